/*
 * mkdiag.c — writes socket-table fixtures for the unit tests: the same
 * sockets as a raw NETLINK_SOCK_DIAG dump (sock_diag.bin, netlink messages
 * laid out as the kernel sends them) and as /proc/net/tcp + /proc/net/tcp6
 * text (the kernel's seq_printf formats of net/ipv4/tcp_ipv4.c and
 * net/ipv6/tcp_ipv6.c, 149-column padded IPv4 rows included).
 *
 * It exists so that the fixture pairs under tests/fixtures/stat/ are
 * reproducible and so that bad input (truncated dumps, unknown states,
 * NLMSG_ERROR, NLM_F_DUMP_INTR) can be made on purpose.  It does not use
 * libtwkit: the encoder here is written independently of the parsers it
 * feeds, so that a test comparing the two sources compares two codecs.
 *
 *   mkdiag [-n] [-p] SPEC DIR     -n: write DIR/sock_diag.bin
 *                                 -p: write DIR/net/tcp and DIR/net/tcp6
 *
 * SPEC has one item per line ('#' starts a comment):
 *   4|6 STATE TIMER LADDR LPORT RADDR RPORT EXPIRES_MS IFINDEX UID INODE
 *        a socket; STATE is a name (TIME_WAIT, LISTEN...) or a number;
 *        EXPIRES_MS is written as ms (netlink) and as USER_HZ=100 ticks (proc)
 *   done          an NLMSG_DONE (a recording may hold several dumps)
 *   error N       an NLMSG_ERROR carrying error N (e.g. -1)
 *   intr          the next socket message carries NLM_F_DUMP_INTR
 *   family N      the next socket message carries idiag_family N
 *   type N        netlink message type of the following sockets (default 20)
 *   attr          the following sockets carry an INET_DIAG_MARK attribute
 *   truncate N    cut the last N bytes off sock_diag.bin
 *   repeat N WHAT the next socket line stands for N sockets: the first as
 *                 written, each next one with WHAT plus one (WHAT: lport,
 *                 rport, laddr or raddr; an address counts in its last
 *                 32 bits), for dumps of a million sockets from one line
 * Netlink-only items are ignored for the /proc files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


static const char *const states[] = {
    "",          "ESTABLISHED", "SYN_SENT", "SYN_RECV",   "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
    "CLOSE",     "CLOSE_WAIT",  "LAST_ACK", "LISTEN",     "CLOSING",   "NEW_SYN_RECV",
};

static uint8_t *bin;
static size_t binlen, bincap;
static char *tcp4, *tcp6;
static size_t tcp4len, tcp6len, tcp4cap, tcp6cap;
static unsigned rows4, rows6;

static void die(const char *what, const char *arg, unsigned line)
{
    fprintf(stderr, "mkdiag: line %u: %s '%s'\n", line, what, arg);
    exit(2);
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf) {
            perror("mkdiag");
            exit(1);
        }
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void put_bytes(const void *p, size_t n)
{
    if (binlen + n > bincap) {
        bincap = (binlen + n) * 2;
        if (!(bin = realloc(bin, bincap))) {
            perror("mkdiag");
            exit(1);
        }
    }
    memcpy(bin + binlen, p, n);
    binlen += n;
}

/* Add one to the 32-bit big-endian word of an address at offset off. */
static void bump(uint8_t *a, unsigned off)
{
    uint32_t w;
    memcpy(&w, a + off, 4);
    w = htonl(ntohl(w) + 1);
    memcpy(a + off, &w, 4);
}

static void put_msg(uint16_t type, uint16_t flags, const void *payload, size_t plen)
{
    struct nlmsghdr h = {
        .nlmsg_len = (uint32_t)(NLMSG_HDRLEN + plen),
        .nlmsg_type = type,
        .nlmsg_flags = flags,
        .nlmsg_seq = 1,
        .nlmsg_pid = 0,
    };
    put_bytes(&h, sizeof(h));
    put_bytes(payload, plen);
    static const uint8_t zero[4];
    put_bytes(zero, NLMSG_ALIGN(plen) - plen);
}

static int state_num(const char *s, unsigned line)
{
    char *end;
    long v = strtol(s, &end, 0);
    if (*s && !*end)
        return (int)v;
    for (unsigned i = 1; i < sizeof(states) / sizeof(states[0]); i++)
        if (!strcasecmp(s, states[i]))
            return (int)i;
    die("unknown state", s, line);
    return -1;
}

/* The kernel prints each 32-bit address word as the host integer with %08X. */
static void addr_words(const uint8_t b[16], unsigned words, char *out)
{
    for (unsigned i = 0; i < words; i++) {
        uint32_t w;
        memcpy(&w, b + 4 * i, 4);
        sprintf(out + 8 * i, "%08X", w);
    }
}

static void proc_row(int fam, int st, int timer, const uint8_t *l, unsigned lport,
                     const uint8_t *r, unsigned rport, unsigned ticks, unsigned uid,
                     unsigned long inode)
{
    char la[33], ra[33], row[512];
    unsigned words = fam == 4 ? 1 : 4;
    addr_words(l, words, la);
    addr_words(r, words, ra);
    bool tw = timer == 3 && inode == 0;
    unsigned i = fam == 4 ? rows4++ : rows6++;
    if (tw) /* get_timewait4_sock / get_timewait6_sock */
        snprintf(row, sizeof(row),
                 "%4u: %s:%04X %s:%04X %02X %08X:%08X %02X:%08X %08X %5d %8d %d %d %016x",
                 i, la, lport, ra, rport, (unsigned)st, 0, 0, 3, ticks, 0, 0, 0, 0, 3, 0);
    else /* get_tcp4_sock / get_tcp6_sock */
        snprintf(row, sizeof(row),
                 "%4u: %s:%04X %s:%04X %02X %08X:%08X %02X:%08X %08X %5u %8d %lu %d %016x "
                 "%u %u %u %u %d",
                 i, la, lport, ra, rport, (unsigned)st, 0, 0, (unsigned)timer, ticks, 0, uid, 0,
                 inode, 1, 0, st == 10 ? 100u : 20u, 0u, 0u, 10u, st == 10 ? 0 : -1);
    char line[600];
    if (fam == 4)
        snprintf(line, sizeof(line), "%-149s\n", row); /* seq_setwidth(TMPSZ - 1) */
    else
        snprintf(line, sizeof(line), "%s\n", row);
    if (fam == 4)
        append(&tcp4, &tcp4len, &tcp4cap, line);
    else
        append(&tcp6, &tcp6len, &tcp6cap, line);
}

static void write_file(const char *dir, const char *rel, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    bool want_nl = false, want_proc = false;
    int opt;
    while ((opt = getopt(argc, argv, "np")) != -1) {
        if (opt == 'n')
            want_nl = true;
        else if (opt == 'p')
            want_proc = true;
        else
            goto usage;
    }
    if (argc - optind != 2 || !(want_nl || want_proc)) {
    usage:
        fprintf(stderr, "usage: mkdiag [-n] [-p] SPEC DIR\n");
        return 2;
    }
    FILE *spec = fopen(argv[optind], "r");
    if (!spec) {
        perror(argv[optind]);
        return 1;
    }
    const char *dir = argv[optind + 1];
    char hdr4[200];
    snprintf(hdr4, sizeof(hdr4), "%-149s\n",
             "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
             "   uid  timeout inode");
    append(&tcp4, &tcp4len, &tcp4cap, hdr4);
    append(&tcp6, &tcp6len, &tcp6cap,
           "  sl  local_address                         remote_address                     "
           "   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");

    char buf[1024];
    unsigned line = 0, truncate = 0;
    uint16_t type = SOCK_DIAG_BY_FAMILY, next_flags = 0;
    int next_family = -1;
    bool attr = false;
    unsigned long repeat = 1;
    int repeat_what = 0; /* 1 lport, 2 rport, 3 laddr, 4 raddr */
    while (fgets(buf, sizeof(buf), spec)) {
        line++;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *tok[16];
        unsigned n = 0;
        for (char *save = NULL, *t = strtok_r(buf, " \t\n", &save); t && n < 16;
             t = strtok_r(NULL, " \t\n", &save))
            tok[n++] = t;
        if (!n)
            continue;
        if (!strcmp(tok[0], "done") && n == 1) {
            int zero = 0;
            put_msg(NLMSG_DONE, NLM_F_MULTI, &zero, sizeof(zero));
        } else if (!strcmp(tok[0], "error") && n == 2) {
            struct nlmsgerr e = {.error = atoi(tok[1])};
            put_msg(NLMSG_ERROR, 0, &e, sizeof(e));
        } else if (!strcmp(tok[0], "intr") && n == 1) {
            next_flags = NLM_F_DUMP_INTR;
        } else if (!strcmp(tok[0], "family") && n == 2) {
            next_family = atoi(tok[1]);
        } else if (!strcmp(tok[0], "type") && n == 2) {
            type = (uint16_t)atoi(tok[1]);
        } else if (!strcmp(tok[0], "attr") && n == 1) {
            attr = true;
        } else if (!strcmp(tok[0], "truncate") && n == 2) {
            truncate = (unsigned)atoi(tok[1]);
        } else if (!strcmp(tok[0], "repeat") && n == 3) {
            static const char *const what[] = {"", "lport", "rport", "laddr", "raddr"};
            char *end;
            repeat = strtoul(tok[1], &end, 10);
            if (*end || !repeat || repeat > 10000000)
                die("bad repeat count", tok[1], line);
            for (repeat_what = 4; repeat_what > 0 && strcmp(what[repeat_what], tok[2]);
                 repeat_what--)
                ;
            if (!repeat_what)
                die("bad repeat field", tok[2], line);
        } else if ((!strcmp(tok[0], "4") || !strcmp(tok[0], "6")) && n == 11) {
            int fam = tok[0][0] - '0', af = fam == 4 ? AF_INET : AF_INET6;
            uint8_t l[16] = {0}, r[16] = {0};
            if (inet_pton(af, tok[3], l) != 1)
                die("bad address", tok[3], line);
            if (inet_pton(af, tok[5], r) != 1)
                die("bad address", tok[5], line);
            int st = state_num(tok[1], line);
            int timer = atoi(tok[2]);
            unsigned lport = (unsigned)atoi(tok[4]), rport = (unsigned)atoi(tok[6]);
            unsigned long exp = strtoul(tok[7], NULL, 10);
            unsigned ifindex = (unsigned)atoi(tok[8]), uid = (unsigned)atoi(tok[9]);
            unsigned long inode = strtoul(tok[10], NULL, 10);

            for (unsigned long k = 0; k < repeat; k++) {
                uint8_t msg[sizeof(struct inet_diag_msg) + 8];
                struct inet_diag_msg m;
                memset(&m, 0, sizeof(m));
                m.idiag_family = (uint8_t)(next_family >= 0 ? next_family : af);
                m.idiag_state = (uint8_t)st;
                m.idiag_timer = (uint8_t)timer;
                m.id.idiag_sport = htons((uint16_t)lport);
                m.id.idiag_dport = htons((uint16_t)rport);
                memcpy(m.id.idiag_src, l, fam == 4 ? 4 : 16);
                memcpy(m.id.idiag_dst, r, fam == 4 ? 4 : 16);
                m.id.idiag_if = ifindex;
                m.id.idiag_cookie[0] = line;
                m.id.idiag_cookie[1] = 0;
                m.idiag_expires = (uint32_t)exp;
                m.idiag_uid = uid;
                m.idiag_inode = (uint32_t)inode;
                memcpy(msg, &m, sizeof(m));
                size_t len = sizeof(m);
                if (attr) { /* INET_DIAG_MARK, as a CAP_NET_ADMIN caller gets it */
                    struct nlattr a = {.nla_len = 8, .nla_type = INET_DIAG_MARK};
                    uint32_t mark = 0;
                    memcpy(msg + len, &a, 4);
                    memcpy(msg + len + 4, &mark, 4);
                    len += 8;
                }
                put_msg(type, NLM_F_MULTI | next_flags, msg, len);
                next_flags = 0;
                next_family = -1;
                proc_row(fam, st, timer, l, lport, r, rport, (unsigned)(exp / 10), uid, inode);
                if (repeat_what == 1)
                    lport++;
                else if (repeat_what == 2)
                    rport++;
                else if (repeat_what >= 3)
                    bump(repeat_what == 3 ? l : r, fam == 4 ? 0 : 12);
            }
            repeat = 1;
            repeat_what = 0;
        } else {
            die("cannot read", tok[0], line);
        }
    }
    fclose(spec);

    char p[4096];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    if (want_nl)
        write_file(dir, "sock_diag.bin", bin, truncate < binlen ? binlen - truncate : 0);
    if (want_proc) {
        snprintf(p, sizeof(p), "%s/net", dir);
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            perror(p);
            return 1;
        }
        write_file(dir, "net/tcp", tcp4, tcp4len);
        write_file(dir, "net/tcp6", tcp6, tcp6len);
    }
    free(tcp4);
    free(tcp6);
    free(bin);
    return 0;
}
