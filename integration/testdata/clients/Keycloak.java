// Keycloak's LDAP federation calls, made with plain JNDI (the API Keycloak
// uses) against bindery: user search by the service account, the password
// check on a fresh connection, a paged sync of every patron with
// PagedResultsControl, StartTLS, and the anonymous InitialDirContext that
// reads the Root DSE. Run by integration/libraries_test.go as
// `java Keycloak.java`; prints "ok NAME" or "not ok NAME: why" per check.

import java.io.FileInputStream;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.Set;
import javax.naming.AuthenticationException;
import javax.naming.Context;
import javax.naming.NamingEnumeration;
import javax.naming.directory.Attributes;
import javax.naming.directory.InitialDirContext;
import javax.naming.directory.SearchControls;
import javax.naming.directory.SearchResult;
import javax.naming.ldap.Control;
import javax.naming.ldap.InitialLdapContext;
import javax.naming.ldap.LdapContext;
import javax.naming.ldap.PagedResultsControl;
import javax.naming.ldap.PagedResultsResponseControl;
import javax.naming.ldap.StartTlsRequest;
import javax.naming.ldap.StartTlsResponse;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class Keycloak {
    static boolean failed = false;

    static void check(boolean ok, String name, Object why) {
        if (ok) {
            System.out.println("ok " + name);
        } else {
            System.out.println("not ok " + name + ": " + why);
            failed = true;
        }
    }

    static String env(String k) {
        return System.getenv(k);
    }

    static Hashtable<String, String> base(String principal, String credentials) {
        Hashtable<String, String> h = new Hashtable<>();
        h.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.ldap.LdapCtxFactory");
        h.put(Context.PROVIDER_URL, env("BINDERY_URL"));
        h.put("com.sun.jndi.ldap.connect.timeout", "20000");
        h.put("com.sun.jndi.ldap.read.timeout", "60000");
        if (principal == null) {
            h.put(Context.SECURITY_AUTHENTICATION, "none");
        } else {
            h.put(Context.SECURITY_AUTHENTICATION, "simple");
            h.put(Context.SECURITY_PRINCIPAL, principal);
            h.put(Context.SECURITY_CREDENTIALS, credentials);
        }
        return h;
    }

    public static void main(String[] args) throws Exception {
        String people = "ou=people," + env("BINDERY_SUFFIX");
        String julacDN = "uid=" + env("BINDERY_JULAC_ID") + "," + people;

        // Anonymous InitialDirContext: the Root DSE and the schema entry.
        try {
            InitialDirContext anon = new InitialDirContext(base(null, null));
            Attributes dse = anon.getAttributes("", new String[] {"namingContexts", "subschemaSubentry", "supportedControl"});
            check(env("BINDERY_SUFFIX").equals(dse.get("namingContexts").get()), "anonymous_root_dse", dse);
            check("cn=Subschema".equals(dse.get("subschemaSubentry").get()), "anonymous_subschema_subentry", dse);
            check(dse.get("supportedControl").contains("1.2.840.113556.1.4.319"), "anonymous_paged_results_supported", dse);
            anon.close();
        } catch (Exception ex) {
            check(false, "anonymous_root_dse", ex);
        }

        // The user search Keycloak runs as its bind DN.
        try {
            LdapContext svc = new InitialLdapContext(base(env("BINDERY_SVC_DN"), env("BINDERY_SVC_PW")), null);
            SearchControls sc = new SearchControls();
            sc.setSearchScope(SearchControls.SUBTREE_SCOPE);
            sc.setReturningAttributes(new String[] {"uid", "cn", "sn", "mail", "entryUUID", "createTimestamp", "modifyTimestamp"});
            NamingEnumeration<SearchResult> r = svc.search(people,
                "(&(uid={0})(objectclass=inetOrgPerson))", new Object[] {env("BINDERY_JULAC_ID").toLowerCase()}, sc);
            int n = 0;
            String uuid = null;
            while (r.hasMore()) {
                SearchResult sr = r.next();
                n++;
                uuid = sr.getAttributes().get("entryUUID") == null ? null : (String) sr.getAttributes().get("entryUUID").get();
            }
            check(n == 1 && uuid != null && uuid.length() == 36, "user_search", n + " " + uuid);
            svc.close();
        } catch (Exception ex) {
            check(false, "user_search", ex);
        }

        // The password check: a fresh, non-pooled connection per attempt.
        try {
            new InitialDirContext(base(julacDN, env("BINDERY_JULAC_PIN"))).close();
            check(true, "user_bind", "");
        } catch (Exception ex) {
            check(false, "user_bind", ex);
        }
        try {
            new InitialDirContext(base(julacDN, "Wrong-PIN-2026")).close();
            check(false, "wrong_pin_49", "accepted");
        } catch (AuthenticationException ex) {
            check(ex.getMessage().contains("error code 49"), "wrong_pin_49", ex.getMessage());
        }

        // The sync: every patron, pages of 500 (Keycloak's batch size).
        try {
            LdapContext sync = new InitialLdapContext(base(env("BINDERY_SYNC_DN"), env("BINDERY_SVC_PW")), null);
            SearchControls sc = new SearchControls();
            sc.setSearchScope(SearchControls.SUBTREE_SCOPE);
            sc.setReturningAttributes(new String[] {"uid", "entryUUID", "modifyTimestamp"});
            byte[] cookie = null;
            Set<String> dns = new HashSet<>();
            int pages = 0;
            boolean allUUIDs = true;
            do {
                sync.setRequestControls(new Control[] {new PagedResultsControl(500, cookie, Control.CRITICAL)});
                NamingEnumeration<SearchResult> r = sync.search(people, "(objectclass=inetOrgPerson)", sc);
                while (r.hasMore()) {
                    SearchResult sr = r.next();
                    if (!dns.add(sr.getNameInNamespace().toLowerCase())) {
                        check(false, "paged_sync_no_duplicates", sr.getNameInNamespace());
                    }
                    allUUIDs &= sr.getAttributes().get("entryUUID") != null;
                }
                pages++;
                cookie = null;
                Control[] resp = sync.getResponseControls();
                if (resp != null) {
                    for (Control c : resp) {
                        if (c instanceof PagedResultsResponseControl) {
                            cookie = ((PagedResultsResponseControl) c).getCookie();
                        }
                    }
                }
            } while (cookie != null && cookie.length > 0 && pages < 100);
            int want = Integer.parseInt(env("BINDERY_PEOPLE"));
            check(dns.size() == want && pages >= 3 && allUUIDs, "paged_sync", dns.size() + " entries in " + pages + " pages, want " + want);
            sync.close();
        } catch (Exception ex) {
            check(false, "paged_sync", ex);
        }

        // StartTLS, then the password check on the protected connection.
        try {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            try (FileInputStream in = new FileInputStream(env("BINDERY_CA"))) {
                ks.setCertificateEntry("bindery-ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ssl = SSLContext.getInstance("TLS");
            ssl.init(null, tmf.getTrustManagers(), null);
            LdapContext ctx = new InitialLdapContext(base(null, null), null);
            StartTlsResponse tls = (StartTlsResponse) ctx.extendedOperation(new StartTlsRequest());
            tls.negotiate(ssl.getSocketFactory());
            ctx.addToEnvironment(Context.SECURITY_AUTHENTICATION, "simple");
            ctx.addToEnvironment(Context.SECURITY_PRINCIPAL, julacDN);
            ctx.addToEnvironment(Context.SECURITY_CREDENTIALS, env("BINDERY_JULAC_PIN"));
            Attributes own = ctx.getAttributes(julacDN, new String[] {"uid"});
            check(env("BINDERY_JULAC_ID").equals(own.get("uid").get()), "starttls_user_bind", own);
            tls.close();
            ctx.close();
        } catch (Exception ex) {
            check(false, "starttls_user_bind", ex);
        }
        System.exit(failed ? 1 : 0);
    }
}
