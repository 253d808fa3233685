<?php
// VuFind's LDAP flow (VuFind\Auth\LDAP) with PHP's ldap extension against
// bindery: connect, protocol 3, StartTLS (or ldaps://), service bind,
// search by username, bind as the entry, re-read the entry on the user's
// connection. Run by integration/libraries_test.go; prints "ok NAME" or
// "not ok NAME: why" per check.
$failed = false;
function check($ok, $name, $why = '') {
    global $failed;
    if ($ok) { echo "ok $name\n"; } else { echo "not ok $name: $why\n"; $failed = true; }
}
$e = getenv();
$base = 'ou=people,' . $e['BINDERY_SUFFIX'];
$attrs = ['uid', 'cn', 'sn', 'givenname', 'mail', 'employeetype', 'o', 'memberof'];

function login($name, $uri, $starttls, $user, $password) {
    global $e, $base, $attrs;
    $conn = ldap_connect($uri);
    check($conn !== false, "{$name}_connect");
    ldap_set_option($conn, LDAP_OPT_PROTOCOL_VERSION, 3);
    ldap_set_option($conn, LDAP_OPT_REFERRALS, 0);
    ldap_set_option($conn, LDAP_OPT_NETWORK_TIMEOUT, 20);
    if ($starttls) {
        check(@ldap_start_tls($conn), "{$name}_starttls", ldap_error($conn));
    }
    check(@ldap_bind($conn, $e['BINDERY_SVC_DN'], $e['BINDERY_SVC_PW']), "{$name}_service_bind", ldap_error($conn));
    $res = @ldap_search($conn, $base, '(uid=' . ldap_escape($user, '', LDAP_ESCAPE_FILTER) . ')', $attrs);
    $info = $res ? ldap_get_entries($conn, $res) : ['count' => 0];
    check($info['count'] == 1, "{$name}_search", ldap_error($conn));
    if ($info['count'] != 1) {
        return;
    }
    $dn = $info[0]['dn'];
    check(!@ldap_bind($conn, $dn, 'Wrong-PIN-2026') && ldap_errno($conn) == 49, "{$name}_wrong_pin_49", ldap_errno($conn));
    check(@ldap_bind($conn, $dn, $password), "{$name}_user_bind", ldap_error($conn));
    // Re-read the entry as the user.
    $res = @ldap_read($conn, $dn, '(objectClass=*)', $attrs);
    $own = $res ? ldap_get_entries($conn, $res) : ['count' => 0];
    check($own['count'] == 1 && strcasecmp($own[0]['uid'][0], $user) == 0, "{$name}_reread", ldap_error($conn));
    check(isset($own[0]['employeetype'][0]) && isset($own[0]['mail'][0]), "{$name}_attributes");
    ldap_unbind($conn);
}

login('plain', $e['BINDERY_URL'], false, $e['BINDERY_JULAC_ID'], $e['BINDERY_JULAC_PIN']);
login('starttls', $e['BINDERY_URL'], true, $e['BINDERY_JULAC_ID'], $e['BINDERY_JULAC_PIN']);
login('ldaps', $e['BINDERY_LDAPS_URL'], false, $e['BINDERY_CAMPUS_ID'], $e['BINDERY_CAMPUS_PW']);
exit($failed ? 1 : 0);
