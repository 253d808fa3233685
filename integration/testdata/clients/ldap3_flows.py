"""Python ldap3 against bindery: an anonymous auto_bind, the schema through
get_info=ALL, WhoAmI, and Password Modify with a PIN that breaks the rules
(19 naming them) and one that keeps them. Run by
integration/libraries_test.go; prints "ok NAME" or "not ok NAME: why"."""
import os
import sys

from ldap3 import ALL, Connection, Server

e = os.environ
failed = False


def check(ok, name, why=""):
    global failed
    if ok:
        print("ok " + name)
    else:
        print("not ok %s: %s" % (name, why))
        failed = True


server = Server(e["BINDERY_URL"], get_info=ALL, connect_timeout=20)
anon = Connection(server, auto_bind=True, receive_timeout=20)
check(anon.bound, "anonymous_auto_bind", anon.result)
check(server.info is not None and e["BINDERY_SUFFIX"] in server.info.naming_contexts, "root_dse", server.info)
schema = server.schema
check(schema is not None, "schema_loaded")
if schema is not None:
    for name in ("uid", "cn", "mail", "employeeType", "employeeNumber", "memberOf", "entryUUID"):
        check(name in schema.attribute_types, "schema_attribute_" + name)
    check("inetOrgPerson" in schema.object_classes, "schema_inetOrgPerson")
check(anon.extend.standard.who_am_i() in (None, ""), "anonymous_whoami", anon.result)
anon.unbind()

dn = "uid=%s,ou=people,%s" % (e["BINDERY_CHANGE_ID"], e["BINDERY_SUFFIX"])
user = Connection(server, user=dn, password=e["BINDERY_CHANGE_PIN"], auto_bind=True, receive_timeout=20)
who = user.extend.standard.who_am_i()
check(who == "dn:" + dn, "whoami", who)
# A search naming attributes: ldap3 checks them against the schema.
user.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["uid", "mail", "entryUUID"])
check(len(user.entries) == 1 and str(user.entries[0].uid) == e["BINDERY_CHANGE_ID"], "own_entry_with_schema_checks", user.result)

weak = "abc"
ok = user.extend.standard.modify_password(old_password=e["BINDERY_CHANGE_PIN"], new_password=weak)
res = user.result
msg = res.get("message", "")
check(not ok and res["result"] == 19 and "PIN must be 10 to 20 characters long" in msg
      and "PIN must use at least 2 of" in msg and weak not in msg, "weak_pin_19_names_rules", res)

good = "Python-PIN-2026"
ok = user.extend.standard.modify_password(old_password=e["BINDERY_CHANGE_PIN"], new_password=good)
check(ok, "good_pin_changed", user.result)
user.unbind()
again = Connection(server, user=dn, password=good, receive_timeout=20)
check(again.bind(), "bind_with_new_pin", again.result)
old = Connection(server, user=dn, password=e["BINDERY_CHANGE_PIN"], receive_timeout=20)
check(not old.bind() and old.result["result"] == 49, "old_pin_49", old.result)
sys.exit(1 if failed else 0)
