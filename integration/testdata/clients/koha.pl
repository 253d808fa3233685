#!/usr/bin/perl
# Koha's LDAP flows (C4/Auth_with_ldap.pm) with Perl Net::LDAP against
# bindery; run by integration/libraries_test.go, which sets the BINDERY_*
# variables. Prints "ok NAME" or "not ok NAME: why" per check.
use strict;
use warnings;
use Net::LDAP;

my %e = %ENV;
my $base = "ou=people,$e{BINDERY_SUFFIX}";
my @mapping = qw(givenname sn mail uid employeetype employeenumber o);
my $failed = 0;

sub check {
    my ($ok, $name, $why) = @_;
    if ($ok) { print "ok $name\n" } else { print "not ok $name: ", ($why // ''), "\n"; $failed = 1 }
}

sub connect_ldap {
    my $ldap = Net::LDAP->new($e{BINDERY_URL}, timeout => 20) or die "connect: $@";
    return $ldap;
}

# Flow 1: service bind, search, bind as the entry on the same connection.
{
    my $ldap = connect_ldap();
    my $m = $ldap->bind($e{BINDERY_SVC_DN}, password => $e{BINDERY_SVC_PW});
    check(!$m->code, "flow1_service_bind", $m->error);
    $m = $ldap->search(base => $base, filter => "(uid=$e{BINDERY_JULAC_ID})", attrs => \@mapping);
    check(!$m->code && $m->count == 1, "flow1_search", $m->error . " count " . $m->count);
    my $entry = $m->entry(0);
    my %want = (givenname => undef, sn => undef, mail => lc $e{BINDERY_JULAC_MAIL}, uid => $e{BINDERY_JULAC_ID},
        employeetype => 'julac', employeenumber => $e{BINDERY_JULAC_ID});
    for my $attr (sort keys %want) {
        my $v = $entry->get_value($attr);
        my $ok = defined $v && (!defined $want{$attr} || lc $v eq lc $want{$attr});
        check($ok, "flow1_mapping_$attr", defined $v ? $v : 'missing');
    }
    $m = $ldap->bind($entry->dn, password => $e{BINDERY_JULAC_PIN});
    check(!$m->code, "flow1_user_bind", $m->error);
    $m = $ldap->bind($entry->dn, password => 'Wrong-PIN-2026');
    check($m->code == 49, "flow1_wrong_pin_49", $m->code . ' ' . $m->error);
    $ldap->unbind;
}

# Flow 2: principal_name %s@upn_suffix, then a search to copy attributes.
{
    my $ldap = connect_ldap();
    my $principal = sprintf('%s@%s', lc $e{BINDERY_JULAC_ID}, $e{BINDERY_UPN_SUFFIX});
    my $m = $ldap->bind($principal, password => $e{BINDERY_JULAC_PIN});
    check(!$m->code, "flow2_principal_bind", $m->error);
    $m = $ldap->search(base => $base, filter => "(uid=$e{BINDERY_JULAC_ID})", attrs => \@mapping);
    check(!$m->code && $m->count == 1 && lc($m->entry(0)->get_value('mail')) eq lc $e{BINDERY_JULAC_MAIL},
        "flow2_search_own_entry", $m->error);
    $m = $ldap->bind($principal, password => 'Wrong-PIN-2026');
    check($m->code == 49, "flow2_wrong_pin_49", $m->code);
    $ldap->unbind;
}

# Flow 3: search, then bind each candidate until one succeeds; a typed *
# (Koha does not escape it) finds nothing.
{
    my $ldap = connect_ldap();
    my $m = $ldap->bind($e{BINDERY_SVC_DN}, password => $e{BINDERY_SVC_PW});
    check(!$m->code, "flow3_service_bind", $m->error);
    for my $typed ('*', 'CU*', '*)(uid=*') {
        $m = $ldap->search(base => $base, filter => "(uid=$typed)", attrs => ['uid']);
        check($m->count == 0, "flow3_star_finds_nothing_$typed", $m->count);
    }
    $m = $ldap->search(base => $base, filter => "(uid=$e{BINDERY_CAMPUS_ID})", attrs => \@mapping);
    my $bound = 0;
    for my $entry ($m->entries) {
        my $b = $ldap->bind($entry->dn, password => $e{BINDERY_CAMPUS_PW});
        if (!$b->code) { $bound = 1; last }
    }
    check($m->count == 1 && $bound, "flow3_campus_candidate_bind", $m->count);
    $ldap->unbind;
}

# Koha's anonymous_bind: an anonymous bind works, people stay closed (50).
{
    my $ldap = connect_ldap();
    my $m = $ldap->bind;
    check(!$m->code, "anonymous_bind", $m->error);
    $m = $ldap->search(base => $base, filter => "(uid=$e{BINDERY_JULAC_ID})", attrs => ['uid']);
    check($m->code == 50, "anonymous_search_50", $m->code);
    $ldap->unbind;
}
exit $failed;
