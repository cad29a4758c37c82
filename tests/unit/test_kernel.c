/*
 * test_kernel.c — the kernel readings of lib/kernel.c: /proc/net/sockstat,
 * the two-line counter format of /proc/net/snmp and /proc/net/netstat,
 * ip_local_reserved_ports lists, the TCP sysctls and slab sizes read from a
 * proc root, and the recorder that makes such a root.
 *
 * The snmp and netstat texts below are verbatim copies from the Linux 6.18
 * machine the project is developed on (`cat /proc/net/snmp
 * /proc/net/netstat`), so the parser meets the real section order and
 * widths (TcpExt has over 120 columns, MaxConn is -1).  Fixture roots are
 * under tests/fixtures/stat/ (crafted-proc: a 6.18 layout with every file;
 * kernel-6.12: no tcp_tw_reuse_delay, no slab sizes, no PAWSTimewait;
 * kernel-*: one broken or missing file each).
 */
#include "../tmpdir.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/error.h>
#include <twkit/kernel.h>

#define FIX "tests/fixtures/stat"

static const char real_snmp[] =
    "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownPro"
    "tos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds Re"
    "asmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits\n"
    "Ip: 2 64 972 0 0 0 0 0 972 591 0 0 0 0 0 0 0 0 0 591\n"
    "Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs I"
    "nRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps Ou"
    "tMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParm"
    "Probs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps Out"
    "AddrMasks OutAddrMaskReps\n"
    "Icmp: 1 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "IcmpMsg: InType3\n"
    "IcmpMsg: 1\n"
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabReset"
    "s CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
    "Tcp: 1 200 120000 -1 14 3 0 0 0 945 566 0 0 2 0\n"
    "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors Ig"
    "noredMulti MemErrors\n"
    "Udp: 26 0 0 27 0 0 0 0 0\n"
    "UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumError"
    "s IgnoredMulti MemErrors\n"
    "UdpLite: 0 0 0 0 0 0 0 0 0\n";

static const char real_netstat[] =
    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPrun"
    "ed OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActi"
    "ve PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLo"
    "cked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoR"
    "ecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFu"
    "llUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSack"
    "Failures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TC"
    "PLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoa"
    "lesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbo"
    "rtOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPr"
    "essures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo"
    " TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMer"
    "ged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop "
    "IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransF"
    "ail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TC"
    "PFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastO"
    "penListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues Bu"
    "syPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindow"
    "Adv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDe"
    "layDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TC"
    "PACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAliv"
    "e TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowD"
    "rop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDa"
    "taRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailu"
    "re TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps\n"
    "TcpExt: 0 0 0 0 0 0 0 0 0 0 12 0 0 0 0 0 0 0 0 0 0 0 0 0 5 19 7 0 0 0 0 0 0 0 0 0 0 0 0 "
    "0 0 0 0 2 0 0 0 0 0 17 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 700"
    " 0 0 0 0 0 0 0 0 0 0 0 0 2 0 4 85 85 7 0 55 0 0 0 0 0 0 0 0 0 0 0 0 0 0 68 0 0 0 0 0 0 2"
    " 0 0 0 0 0 0 0 0 0 0 0\n"
    "IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOc"
    "tets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors In"
    "NoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps\n"
    "IpExt: 0 0 0 0 0 0 42161948 40386 0 0 0 0 0 972 0 0 0 0\n"
    "MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallba"
    "ckACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAtt"
    "empt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx M"
    "PJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFail"
    "ure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConne"
    "ctErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapR"
    "x DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData A"
    "ddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoi"
    "nPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr"
    " RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcl"
    "oseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShare"
    "d RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5Sig"
    "Fallback DssFallback SimultConnectFallback FallbackFailed WinProbe\n"
    "MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 "
    "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

/* ---- sockstat ----------------------------------------------------------------- */

static void preset(struct tw_kernel *k)
{
    memset(k, 0, sizeof(*k));
    k->sock_inuse = k->sock_orphan = k->sock_tw = k->sock_alloc = k->sock_mem_pages = -1;
}

static int sockstat(const char *text, struct tw_kernel *k)
{
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1); /* not NUL-terminated: len is the contract */
    cr_assert_not_null(copy);
    memcpy(copy, text, n);
    int r = tw_parse_sockstat(copy, n, k);
    free(copy);
    return r;
}

Test(sockstat, real_text)
{
    static struct tw_kernel k;
    preset(&k);
    cr_assert_eq(sockstat("sockets: used 19\nTCP: inuse 1 orphan 200 tw 0 alloc 560 mem 458\n"
                          "UDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
                          "FRAG: inuse 0 memory 0\n",
                          &k),
                 0);
    cr_assert_eq(k.sock_inuse, 1);
    cr_assert_eq(k.sock_orphan, 200);
    cr_assert_eq(k.sock_tw, 0);
    cr_assert_eq(k.sock_alloc, 560);
    cr_assert_eq(k.sock_mem_pages, 458);

    preset(&k);
    cr_assert_eq(sockstat("sockets: used 5\nTCP: inuse 2 orphan 0 tw 3 alloc 4 mem 1\n", &k), 0);
    cr_assert_eq(k.sock_inuse, 2);
    cr_assert_eq(k.sock_orphan, 0);
    cr_assert_eq(k.sock_tw, 3);
    cr_assert_eq(k.sock_alloc, 4);
    cr_assert_eq(k.sock_mem_pages, 1);
}

Test(sockstat, tolerant_forms)
{
    static struct tw_kernel k;
    /* no final newline; TCP not on the second line; an unknown field */
    preset(&k);
    cr_assert_eq(sockstat("UDP: inuse 0 mem 0\nTCP: inuse 2 orphan 0 tw 131072 alloc 4 mem 1 "
                          "future 9",
                          &k),
                 0);
    cr_assert_eq(k.sock_tw, 131072);
    cr_assert_eq(k.sock_mem_pages, 1);
    /* only tw: the others stay as they were */
    preset(&k);
    cr_assert_eq(sockstat("TCP: tw 7\n", &k), 0);
    cr_assert_eq(k.sock_tw, 7);
    cr_assert_eq(k.sock_inuse, -1);
    cr_assert_eq(k.sock_alloc, -1);
    /* len cuts the line after "tw 3": what is past len is not read */
    preset(&k);
    const char *t = "TCP: inuse 2 orphan 0 tw 3 alloc 4 mem 1\n";
    cr_assert_eq(tw_parse_sockstat(t, strlen("TCP: inuse 2 orphan 0 tw 3"), &k), 0);
    cr_assert_eq(k.sock_tw, 3);
    cr_assert_eq(k.sock_alloc, -1);
}

Test(sockstat, malformed)
{
    const char *bad[] = {
        "",
        "\n",
        "sockets: used 5\n",
        "TCP: inuse 2 orphan 0 alloc 4 mem 1\n", /* no tw */
        "TCP: inuse\n",
        "TCP: inuse 2 tw\n",
        "TCP: inuse x tw 3\n",
        "TCP: tw -3\n",
        "TCP: tw 3x\n",
        "TCP: tw 99999999999999999999999\n",
        "TCP:tw 3\n",
        "TCP6: tw 3\n",
        "tcp: tw 3\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static struct tw_kernel k;
        preset(&k);
        cr_expect_eq(sockstat(bad[i], &k), TW_EMALFORMED, "accepted: '%s'", bad[i]);
    }
    /* a TCP line longer than any the kernel prints */
    char longline[600];
    int n = snprintf(longline, sizeof(longline), "TCP: tw 3");
    memset(longline + n, ' ', sizeof(longline) - (size_t)n - 2);
    longline[sizeof(longline) - 2] = '\n';
    longline[sizeof(longline) - 1] = '\0';
    static struct tw_kernel k;
    preset(&k);
    cr_expect_eq(sockstat(longline, &k), TW_EMALFORMED);
}

/* ---- snmp / netstat --------------------------------------------------------------- */

static int snmp(const char *text, struct tw_counters *c)
{
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    cr_assert_not_null(copy);
    memcpy(copy, text, n);
    int r = tw_parse_snmp(copy, n, c);
    free(copy);
    return r;
}

Test(snmp, real_proc_net_snmp)
{
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    cr_assert_eq(snmp(real_snmp, &c), 0);
    cr_assert(c.have[TW_C_ACTIVE_OPENS] && c.have[TW_C_OUT_RSTS] && c.have[TW_C_CURR_ESTAB]);
    cr_assert_eq(c.v[TW_C_ACTIVE_OPENS], 14);
    cr_assert_eq(c.v[TW_C_PASSIVE_OPENS], 3);
    cr_assert_eq(c.v[TW_C_ATTEMPT_FAILS], 0);
    cr_assert_eq(c.v[TW_C_ESTAB_RESETS], 0);
    cr_assert_eq(c.v[TW_C_CURR_ESTAB], 0);
    cr_assert_eq(c.v[TW_C_OUT_RSTS], 2);
    /* snmp has no TcpExt */
    cr_assert(!c.have[TW_C_TW] && !c.have[TW_C_TW_OVERFLOW]);
}

Test(snmp, real_proc_net_netstat)
{
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    cr_assert_eq(snmp(real_netstat, &c), 0);
    for (int id = TW_C_TW; id < TW_C_MAX; id++)
        cr_assert(c.have[id], "%s missing from a 6.18 netstat", tw_counter_name(id));
    cr_assert(!c.have[TW_C_ACTIVE_OPENS], "netstat has no Tcp: section");
    cr_assert_eq(c.v[TW_C_TW], 12);
    cr_assert_eq(c.v[TW_C_TW_RECYCLED], 0);
    cr_assert_eq(c.v[TW_C_TW_KILLED], 0);
    cr_assert_eq(c.v[TW_C_TW_OVERFLOW], 0);
    cr_assert_eq(c.v[TW_C_PAWS_TW], 0);
    cr_assert_eq(c.v[TW_C_ABORT_ON_DATA], 1);
    cr_assert_eq(c.v[TW_C_LISTEN_OVERFLOWS], 0);
    /* both files into one struct */
    cr_assert_eq(snmp(real_snmp, &c), 0);
    for (int id = 0; id < TW_C_MAX; id++)
        cr_assert(c.have[id], "%s", tw_counter_name(id));
    cr_assert_eq(c.v[TW_C_TW], 12);
    cr_assert_eq(c.v[TW_C_ACTIVE_OPENS], 14);
}

/* Give every column of the real TcpExt section a distinct value: each counter
 * must come from its own column. */
Test(snmp, every_counter_from_its_own_column)
{
    const char *sec = strstr(real_netstat, "TcpExt:");
    cr_assert_not_null(sec);
    const char *eol = strchr(sec, '\n');
    size_t nl = (size_t)(eol - sec);
    char names[8192], text[16384];
    cr_assert_lt(nl, sizeof(names));
    memcpy(names, sec, nl);
    names[nl] = '\0';
    int off = snprintf(text, sizeof(text), "%s\nTcpExt:", names);
    char copy[8192];
    strcpy(copy, names);
    unsigned col = 0;
    const char *colname[256];
    char *save = NULL;
    strtok_r(copy, " ", &save); /* "TcpExt:" */
    for (char *t = strtok_r(NULL, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        cr_assert_lt(col, 256);
        colname[col] = t;
        off += snprintf(text + off, sizeof(text) - (size_t)off, " %u", 100000 + col);
        col++;
    }
    snprintf(text + off, sizeof(text) - (size_t)off, "\n");
    cr_assert_gt(col, 100);
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    cr_assert_eq(snmp(text, &c), 0);
    for (int id = TW_C_TW; id < TW_C_MAX; id++) {
        unsigned want = 0;
        for (unsigned i = 0; i < col; i++)
            if (!strcmp(colname[i], tw_counter_name(id)))
                want = 100000 + i;
        cr_assert_neq(want, 0, "%s not in the real names line", tw_counter_name(id));
        cr_assert_eq(c.v[id], want, "%s = %llu, want %u", tw_counter_name(id),
                     (unsigned long long)c.v[id], want);
    }
}

Test(snmp, kernel_without_paws_timewait)
{
    /* before 6.16 there is no PAWSTimewait column: have[] says so */
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    cr_assert_eq(snmp("TcpExt: SyncookiesSent TW TWRecycled TWKilled PAWSEstab "
                      "TCPTimeWaitOverflow\nTcpExt: 0 5 6 7 8 9\n",
                      &c),
                 0);
    cr_assert(!c.have[TW_C_PAWS_TW]);
    cr_assert(!c.have[TW_C_LISTEN_DROPS]);
    cr_assert_eq(c.v[TW_C_TW], 5);
    cr_assert_eq(c.v[TW_C_TW_RECYCLED], 6);
    cr_assert_eq(c.v[TW_C_TW_KILLED], 7);
    cr_assert_eq(c.v[TW_C_PAWS_ESTAB], 8);
    cr_assert_eq(c.v[TW_C_TW_OVERFLOW], 9);
    cr_assert_eq(c.v[TW_C_PAWS_TW], 0);
}

Test(snmp, untracked_columns_are_not_checked)
{
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    cr_assert_eq(snmp("Tcp: MaxConn Foo ActiveOpens\nTcp: -1 x 5\n", &c), 0);
    cr_assert_eq(c.v[TW_C_ACTIVE_OPENS], 5);
    memset(&c, 0, sizeof(c));
    cr_assert_eq(snmp("", &c), 0);
    for (int id = 0; id < TW_C_MAX; id++)
        cr_assert(!c.have[id]);
}

Test(snmp, malformed)
{
    const struct {
        const char *text;
        int err;
    } bad[] = {
        {"Tcp: ActiveOpens PassiveOpens OutRsts\nTcp: 1 2\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nTcp: 1 2\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nUdp: 5\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nTcpExt: 5\n", TW_EMALFORMED},
        {"TcpExt: TW\nTcp: 5\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\n", TW_ETRUNCATED},
        {"Tcp: ActiveOpens\nTcp: 1\nTcpExt: TW\n", TW_ETRUNCATED},
        {"garbage\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nno colon here\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nTcp: x\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nTcp: 12x\n", TW_EMALFORMED},
        {"Tcp: ActiveOpens\nTcp: 99999999999999999999999\n", TW_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tw_counters c;
        memset(&c, 0, sizeof(c));
        cr_expect_eq(snmp(bad[i].text, &c), bad[i].err, "'%s'", bad[i].text);
    }
}

Test(snmp, counter_names)
{
    cr_assert_str_eq(tw_counter_name(TW_C_TW), "TW");
    cr_assert_str_eq(tw_counter_section(TW_C_TW), "TcpExt");
    cr_assert_str_eq(tw_counter_name(TW_C_TW_OVERFLOW), "TCPTimeWaitOverflow");
    cr_assert_str_eq(tw_counter_name(TW_C_ACTIVE_OPENS), "ActiveOpens");
    cr_assert_str_eq(tw_counter_section(TW_C_ACTIVE_OPENS), "Tcp");
    cr_assert_str_eq(tw_counter_name(TW_C_MAX), "?");
    cr_assert_str_eq(tw_counter_section(TW_C_MAX), "?");
}

/* ---- ip_local_reserved_ports -------------------------------------------------- */

static unsigned bits_set(const struct tw_kernel *k)
{
    unsigned n = 0;
    for (size_t i = 0; i < sizeof(k->reserved); i++)
        n += (unsigned)__builtin_popcount(k->reserved[i]);
    return n;
}

Test(ports, lists)
{
    static struct tw_kernel k;
    memset(k.reserved, 0xff, sizeof(k.reserved));
    cr_assert_eq(tw_parse_port_list("", &k), 0);
    cr_assert_eq(bits_set(&k), 0, "the bitmap is cleared first");
    cr_assert_eq(tw_parse_port_list("\n", &k), 0);
    cr_assert_eq(bits_set(&k), 0);

    cr_assert_eq(tw_parse_port_list("1000-1010,2000", &k), 0);
    cr_assert_eq(bits_set(&k), 12);
    cr_assert(!tw_kernel_reserved(&k, 999));
    for (unsigned p = 1000; p <= 1010; p++)
        cr_assert(tw_kernel_reserved(&k, p), "%u", p);
    cr_assert(!tw_kernel_reserved(&k, 1011));
    cr_assert(!tw_kernel_reserved(&k, 1999));
    cr_assert(tw_kernel_reserved(&k, 2000));
    cr_assert(!tw_kernel_reserved(&k, 2001));

    cr_assert_eq(tw_parse_port_list("1000-1010,2000\n", &k), 0);
    cr_assert_eq(bits_set(&k), 12);
    cr_assert_eq(tw_parse_port_list("0", &k), 0);
    cr_assert(tw_kernel_reserved(&k, 0));
    cr_assert_eq(bits_set(&k), 1);
    cr_assert_eq(tw_parse_port_list("65535", &k), 0);
    cr_assert(tw_kernel_reserved(&k, 65535));
    cr_assert_eq(bits_set(&k), 1);
    cr_assert_eq(tw_parse_port_list("0-65535", &k), 0);
    cr_assert_eq(bits_set(&k), 65536);
    cr_assert_eq(tw_parse_port_list("5,5,4-6", &k), 0);
    cr_assert_eq(bits_set(&k), 3);
}

Test(ports, bad_lists)
{
    const char *bad[] = {"abc",   "1000-", "-5",     "2000-1000", "65536",     "1,,2", "1;2",
                         "1000 -1010", "1000-1010x", "1-70000", ",1", "1-2-3", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static struct tw_kernel k;
        cr_expect_eq(tw_parse_port_list(bad[i], &k), TW_EMALFORMED, "accepted: '%s'", bad[i]);
    }
}

/* ---- reading a proc root -------------------------------------------------------- */

Test(read, full_618_layout)
{
    static struct tw_kernel k;
    char err[256] = "x";
    cr_assert_eq(tw_kernel_read(&k, FIX "/crafted-proc", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(err, "");
    cr_assert_eq(k.port_lo, 40000);
    cr_assert_eq(k.port_hi, 40100);
    cr_assert_eq(k.n_reserved, 10, "40050-40059 are inside the range, 50000 is not");
    cr_assert(tw_kernel_reserved(&k, 40050) && tw_kernel_reserved(&k, 40059));
    cr_assert(tw_kernel_reserved(&k, 50000));
    cr_assert(!tw_kernel_reserved(&k, 40049) && !tw_kernel_reserved(&k, 40060));
    cr_assert_eq(k.tw_reuse, 1);
    cr_assert_eq(k.tw_reuse_delay_ms, 500);
    cr_assert_eq(k.timestamps, 1);
    cr_assert_eq(k.max_tw_buckets, 1000);
    cr_assert_eq(k.fin_timeout, 60);
    cr_assert_eq(k.rfc1337, 0);
    cr_assert_eq(k.sock_inuse, 18);
    cr_assert_eq(k.sock_orphan, 1);
    cr_assert_eq(k.sock_tw, 28);
    cr_assert_eq(k.sock_alloc, 30);
    cr_assert_eq(k.sock_mem_pages, 4);
    cr_assert_eq(k.tw_slab_v4, 256);
    cr_assert_eq(k.tw_slab_v6, 288);
    cr_assert_eq(k.bind_slab, 128);
    cr_assert_eq(k.bind2_slab, 96);
    cr_assert_str_eq(k.release, "", "a fixture has no uname");
}

Test(read, recorded_namespace)
{
    /* recorded with `twkit stat --record` in a private namespace */
    static struct tw_kernel k;
    cr_assert_eq(tw_kernel_read(&k, FIX "/recorded-nl", NULL, 0), 0);
    cr_assert_eq(k.port_lo, 32768);
    cr_assert_eq(k.port_hi, 60999);
    cr_assert_eq(k.n_reserved, 11);
    cr_assert_eq(k.tw_reuse, 2);
    cr_assert_eq(k.tw_reuse_delay_ms, 60000);
    cr_assert_eq(k.max_tw_buckets, 131072);
    cr_assert_eq(k.sock_tw, 14);
    cr_assert_eq(k.tw_slab_v4, 256);
    cr_assert_eq(k.tw_slab_v6, 256);
    cr_assert_eq(k.bind_slab, 128);
    cr_assert_eq(k.bind2_slab, 128);
}

Test(read, kernel_612_layout)
{
    static struct tw_kernel k;
    char err[256];
    cr_assert_eq(tw_kernel_read(&k, FIX "/kernel-6.12", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(k.port_lo, 32768);
    cr_assert_eq(k.port_hi, 60999);
    cr_assert_eq(k.n_reserved, 0);
    cr_assert_eq(bits_set(&k), 0);
    cr_assert_eq(k.tw_reuse, 2);
    cr_assert_eq(k.tw_reuse_delay_ms, -1, "no tcp_tw_reuse_delay before 6.14");
    cr_assert_eq(k.max_tw_buckets, 131072);
    cr_assert_eq(k.sock_orphan, 200);
    cr_assert_eq(k.sock_alloc, 560);
    cr_assert_eq(k.sock_tw, 0);
    cr_assert_eq(k.tw_slab_v4, 0, "no slab sizes in this root");
    cr_assert_eq(k.tw_slab_v6, 0);
    cr_assert_eq(k.bind_slab, 0);
    cr_assert_eq(k.bind2_slab, 0);
}

Test(read, optional_sysctls_absent)
{
    /* bad-proc-state holds only the range and sockstat: every other sysctl is -1 */
    static struct tw_kernel k;
    cr_assert_eq(tw_kernel_read(&k, FIX "/bad-proc-state", NULL, 0), 0);
    cr_assert_eq(k.tw_reuse, -1);
    cr_assert_eq(k.tw_reuse_delay_ms, -1);
    cr_assert_eq(k.timestamps, -1);
    cr_assert_eq(k.max_tw_buckets, -1);
    cr_assert_eq(k.fin_timeout, -1);
    cr_assert_eq(k.rfc1337, -1);
    cr_assert_eq(k.n_reserved, 0);
    cr_assert_eq(k.sock_tw, 28);
}

Test(read, broken_roots)
{
    const struct {
        const char *dir, *in_err;
        int err;
    } c[] = {
        {FIX "/kernel-no-range", "ip_local_port_range", -ENOENT},
        {FIX "/kernel-bad-range", "ip_local_port_range: malformed", TW_EMALFORMED},
        {FIX "/kernel-bad-reuse", "tcp_tw_reuse: not a number: 'yes'", TW_EMALFORMED},
        {FIX "/kernel-bad-reserved", "ip_local_reserved_ports", TW_EMALFORMED},
        {FIX "/kernel-no-sockstat", "net/sockstat", -ENOENT},
        {FIX "/kernel-bad-sockstat", "net/sockstat", TW_EMALFORMED},
        {FIX "/no-such-directory", "ip_local_port_range", -ENOENT},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        static struct tw_kernel k;
        char err[256] = "";
        int e = tw_kernel_read(&k, c[i].dir, err, sizeof(err));
        cr_expect_eq(e, c[i].err, "%s: %d (%s)", c[i].dir, e, err);
        cr_expect(strstr(err, c[i].in_err), "%s: errbuf '%s' lacks '%s'", c[i].dir, err,
                  c[i].in_err);
        /* errbuf is optional */
        cr_expect_eq(tw_kernel_read(&k, c[i].dir, NULL, 0), c[i].err);
    }
}

Test(read, sockstat_only)
{
    static struct tw_kernel k;
    preset(&k);
    cr_assert_eq(tw_kernel_read_sockstat(&k, FIX "/crafted-nl"), 0);
    cr_assert_eq(k.sock_tw, 28);
    cr_assert_eq(tw_kernel_read_sockstat(&k, FIX "/kernel-no-sockstat"), -ENOENT);
    cr_assert_eq(tw_kernel_read_sockstat(&k, FIX "/kernel-bad-sockstat"), TW_EMALFORMED);
}

Test(read, counters)
{
    struct tw_counters c;
    memset(&c, 0xff, sizeof(c));
    cr_assert_eq(tw_counters_read(&c, FIX "/crafted-proc"), 0);
    const uint64_t want[TW_C_MAX] = {
        [TW_C_ACTIVE_OPENS] = 1001,  [TW_C_PASSIVE_OPENS] = 1002, [TW_C_ATTEMPT_FAILS] = 1003,
        [TW_C_ESTAB_RESETS] = 1004,  [TW_C_CURR_ESTAB] = 1005,    [TW_C_OUT_RSTS] = 1006,
        [TW_C_TW] = 1234,            [TW_C_TW_RECYCLED] = 56,     [TW_C_TW_KILLED] = 7,
        [TW_C_TW_OVERFLOW] = 89,     [TW_C_PAWS_TW] = 3,          [TW_C_PAWS_ESTAB] = 4,
        [TW_C_ABORT_ON_DATA] = 11,   [TW_C_ABORT_ON_CLOSE] = 12,  [TW_C_ABORT_ON_LINGER] = 13,
        [TW_C_LISTEN_OVERFLOWS] = 14, [TW_C_LISTEN_DROPS] = 15,
    };
    for (int id = 0; id < TW_C_MAX; id++) {
        cr_assert(c.have[id], "%s", tw_counter_name(id));
        cr_assert_eq(c.v[id], want[id], "%s = %llu, want %llu", tw_counter_name(id),
                     (unsigned long long)c.v[id], (unsigned long long)want[id]);
    }
    cr_assert_eq(tw_counters_read(&c, FIX "/kernel-6.12"), 0);
    cr_assert(!c.have[TW_C_PAWS_TW]);
    cr_assert_eq(c.v[TW_C_PAWS_TW], 0);
    cr_assert(c.have[TW_C_TW]);
    cr_assert_eq(c.v[TW_C_TW], 1234);
    cr_assert_eq(tw_counters_read(&c, FIX "/kernel-bad-range"), -ENOENT, "no snmp there");
}

Test(read, sysctl_by_name)
{
    char buf[64];
    cr_assert_eq(tw_sysctl_read(FIX "/crafted-proc", "net.ipv4.tcp_tw_reuse", buf, sizeof(buf)),
                 1);
    cr_assert_str_eq(buf, "1");
    cr_assert_eq(tw_sysctl_read(FIX "/crafted-proc", "net.ipv4.ip_local_port_range", buf,
                                sizeof(buf)),
                 11);
    cr_assert_str_eq(buf, "40000\t40100");
    cr_assert_eq(tw_sysctl_read(FIX "/crafted-proc", "net.ipv4.tcp_tw_recycle", buf, sizeof(buf)),
                 -ENOENT);
    const char *bad[] = {"", "../etc/passwd", "net.ipv4..tcp_tw_reuse", "/net/ipv4/tcp_tw_reuse",
                         ".net.ipv4.tcp_tw_reuse"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(tw_sysctl_read(FIX "/crafted-proc", bad[i], buf, sizeof(buf)), TW_EBADOPT,
                     "'%s'", bad[i]);
}

/* ---- writing and recording into a temporary directory --------------------------- */

static char tmp[64];

static void mk_tmp(void)
{
    cr_assert_not_null(tw_test_tmpdir(tmp, sizeof(tmp), "kernel"));
}

static void rm_tmp(void)
{
    tw_test_rmtree(tmp);
}

Test(write, sysctl_write_then_read, .init = mk_tmp, .fini = rm_tmp)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/sys", tmp);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sys/net", tmp);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sys/net/ipv4", tmp);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sys/net/ipv4/tcp_tw_reuse", tmp);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs("0\n", f);
    fclose(f);
    cr_assert_eq(tw_sysctl_write(tmp, "net.ipv4.tcp_tw_reuse", "2"), 0);
    char buf[16];
    cr_assert_eq(tw_sysctl_read(tmp, "net.ipv4.tcp_tw_reuse", buf, sizeof(buf)), 1);
    cr_assert_str_eq(buf, "2");
    cr_assert_eq(tw_sysctl_write(tmp, "net.ipv4.tcp_no_such", "1"), -ENOENT);
    cr_assert_eq(tw_sysctl_write(tmp, "../x", "1"), TW_EBADOPT);
}

static void same_file(const char *a, const char *b)
{
    char x[65536], y[65536];
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    cr_assert(fa >= 0 && fb >= 0, "%s or %s missing", a, b);
    ssize_t na = read(fa, x, sizeof(x)), nb = read(fb, y, sizeof(y));
    close(fa);
    close(fb);
    cr_assert(na == nb && na >= 0 && !memcmp(x, y, (size_t)na), "%s differs from %s", b, a);
}

Test(write, record_makes_a_root_that_reads_the_same, .init = mk_tmp, .fini = rm_tmp)
{
    cr_assert_eq(tw_kernel_record(FIX "/crafted-proc", tmp), 0);
    static struct tw_kernel a, b;
    cr_assert_eq(tw_kernel_read(&a, FIX "/crafted-proc", NULL, 0), 0);
    cr_assert_eq(tw_kernel_read(&b, tmp, NULL, 0), 0);
    cr_assert(!memcmp(&a, &b, sizeof(a)), "the recorded root reads differently");
    struct tw_counters ca, cb;
    cr_assert_eq(tw_counters_read(&ca, FIX "/crafted-proc"), 0);
    cr_assert_eq(tw_counters_read(&cb, tmp), 0);
    cr_assert(!memcmp(&ca, &cb, sizeof(ca)));
    const char *files[] = {"net/sockstat", "net/snmp", "net/netstat",
                           "sys/net/ipv4/ip_local_reserved_ports", "slab/tw_sock_TCPv6/slab_size"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char x[256], y[256];
        snprintf(x, sizeof(x), FIX "/crafted-proc/%s", files[i]);
        snprintf(y, sizeof(y), "%s/%s", tmp, files[i]);
        same_file(x, y);
    }
    /* optional files missing from the source stay missing */
    static struct tw_kernel c;
    char d[128];
    snprintf(d, sizeof(d), "%s/old", tmp);
    cr_assert_eq(mkdir(d, 0755), 0);
    cr_assert_eq(tw_kernel_record(FIX "/kernel-6.12", d), 0);
    cr_assert_eq(tw_kernel_read(&c, d, NULL, 0), 0);
    cr_assert_eq(c.tw_reuse_delay_ms, -1);
    cr_assert_eq(c.tw_slab_v4, 0);
    char p[256];
    snprintf(p, sizeof(p), "%s/slab", d);
    cr_assert_neq(access(p, F_OK), 0, "no slab sizes to record, no slab directory");
}
