// SPDX-License-Identifier: GPL-2.0
/*
 * synproxy's SYNs answered in the kernel (--syn-path tc, xdp, xdp-generic): answers an IPv4 or IPv6 SYN to a protected
 * address and port with the same cookie SYN/ACK the Java front end writes (io.synproxy.handshake.Handshake#synAck,
 * io.synproxy.cookie.SynCookie), in the kernel's receive path, by rewriting the SYN in place and sending it back out
 * of the interface it came in on (XDP_TX at XDP, a redirect to egress at tc ingress). No copy to user space, no
 * socket, no syscall: the proxy process spends nothing on a flood SYN. Every SYN this program is not sure about (IP
 * options or IPv6 extension headers, payload, odd TCP options, a wrong checksum, a deny or allow list in force but
 * with KERNEL_HANDOFF, where the lists are held here: deny_list, allow_list) goes
 * on to the kernel as before (XDP_PASS, TC_ACT_UNSPEC), where the capture ring and the Java front end decide as they
 * always did; with KERNEL_HANDOFF, which has no rings, with the priority the guard lets through to the proxy's listener,
 * which makes an ordinary handshake (see the pass label in decide()). Segments without SYN and without a kernel socket
 * are screened (screen()): what the Java front end would only count is dropped here, an ACK flood included. The final
 * ACK is Java's (with KERNEL_HANDOFF the kernel's, given its request socket by bpf_sk_assign_tcp_reqsk): this program
 * never keeps per-connection state.
 *
 * The user-space side is io.synproxy.xdp.XdpFastPath: it fills `config` (keys, listens, our options) and reads
 * `counters`. Built by proxy-core's pom with clang -target bpf when clang is installed, twice: as it is, and with
 * KERNEL_HANDOFF defined (--handoff kernel, Linux 6.9 or later), where a final ACK that verifies at tc is not left to
 * Java but handed to the proxy's listening socket with bpf_sk_assign_tcp_reqsk(), and the kernel builds the
 * connection from the cookie's options as it does from its own SYN cookies (see assign()). A separate object, so
 * that the default one never names a kfunc an older kernel lacks.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define INLINE static __attribute__((always_inline)) inline

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *) BPF_FUNC_ktime_get_ns;
static long (*bpf_xdp_adjust_tail)(struct xdp_md *ctx, int delta) = (void *) BPF_FUNC_xdp_adjust_tail;
static long (*bpf_skb_change_tail)(struct __sk_buff *skb, __u32 len, __u64 flags) = (void *) BPF_FUNC_skb_change_tail;
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 offset, void *to, __u32 len) =
        (void *) BPF_FUNC_skb_load_bytes;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *) BPF_FUNC_skb_pull_data;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *) BPF_FUNC_redirect;
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *) BPF_FUNC_loop;
static struct bpf_sock *(*bpf_skc_lookup_tcp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 tuple_size, __u64 netns,
        __u64 flags) = (void *) BPF_FUNC_skc_lookup_tcp;
static long (*bpf_sk_release)(void *sock) = (void *) BPF_FUNC_sk_release;
static long (*bpf_set_hash)(struct __sk_buff *skb, __u32 hash) = (void *) BPF_FUNC_set_hash;

#ifdef KERNEL_HANDOFF
#define HANDOFF_KERNEL 1
static void *(*bpf_skc_to_tcp_sock)(void *sk) = (void *) BPF_FUNC_skc_to_tcp_sock;
static __u32 (*bpf_get_prandom_u32)(void) = (void *) BPF_FUNC_get_prandom_u32;
static long (*bpf_sk_select_reuseport)(struct sk_reuseport_md *reuse, void *map, void *key, __u64 flags) =
        (void *) BPF_FUNC_sk_select_reuseport;
/* A struct, not a forward declaration: libbpf checks the kfunc's prototype against the kernel's by kind. */
struct sock {
    __u64 opaque;
};
/* include/net/tcp.h (Linux 6.9). */
struct bpf_tcp_req_attrs {
    __u32 rcv_tsval;
    __u32 rcv_tsecr;
    __u16 mss;
    __u8 rcv_wscale;
    __u8 snd_wscale;
    __u8 ecn_ok;
    __u8 wscale_ok;
    __u8 sack_ok;
    __u8 tstamp_ok;
    __u8 usec_ts_ok;
    __u8 reserved[3];
};
extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *skb, struct sock *sk, struct bpf_tcp_req_attrs *attrs,
        int attrs__sz) __attribute__((section(".ksyms")));
#else
#define HANDOFF_KERNEL 0
#endif

#define MAX_LISTENS 8
/*
 * The flow hash given at tc to a segment of a connection this host's kernel holds (a handed-off one), which the
 * capture rings' classic filter drops (io.synproxy.frontend.Bpf.KERNEL_OWNED_HASH).
 */
#define KERNEL_OWNED_HASH 0x53594e50
/*
 * skb->priority of a final ACK that verifies on a tuple whose TIME_WAIT this host's kernel still holds (see screen()):
 * the capture ring takes it as before, and the nftables guard drops it before TCP (io.synproxy.guard.NftGuard).
 */
#define TAKEOVER_PRIORITY 0x53594e50
/*
 * skb->priority of a SYN to a tuple this host's kernel holds in TIME_WAIT, with KERNEL_HANDOFF: the kernel's own (the
 * TIME_WAIT gives way to the listener, as it would without the proxy), which the guard lets through
 * (io.synproxy.guard.NftGuard.KERNEL_SYN_PRIORITY).
 */
#define KERNEL_SYN_PRIORITY 0x53594e51
#define OPTIONS_MAX 40

/* Must match XdpFastPath.CONFIG_LAYOUT. Addresses and ports in network order. */
struct listen {
    __u32 addr; /* 0: any address */
    __u16 port;
    __u16 pad;
};

struct listen6 {
    __u32 addr[4]; /* all zero: any address */
    __u16 port;
    __u16 pad;
};

struct fast_config {
    __u64 k0[2];
    __u64 k1[2];
    __u32 parity;
    __u32 pass;   /* non-zero: every SYN goes on to user space (a deny or allow list in force) */
    __u32 mss;    /* the MSS we announce */
    __s32 wscale; /* our window shift */
    __u32 window; /* the SYN/ACK's window: 0 with the zero-window handshake */
    __u32 nlisten;
    struct listen listens[MAX_LISTENS];
    __u8 mac[6];  /* the interface's: a frame to another (promiscuous, bridged), broadcast or multicast MAC passes */
    __u8 pad[2];
    __u32 nlisten6;
    __u32 mss6;   /* the MSS we announce over IPv6 */
    struct listen6 listens6[MAX_LISTENS];
    __u32 validate; /* non-zero: a validate-only secret is in force, its keys below */
    __u32 pad2;
    __u64 rst_gap_ns; /* one invalid ACK per this many ns goes on to user space, which answers it with a RST; 0: none */
    __u64 nk0;    /* the next generation's key, for the slot of parity ^ 1: the map may lag the clock by a refresh */
    __u64 nk1;
    __u64 vk0[2]; /* the validate-only secret's keys, by slot, and its next generation's */
    __u64 vk1[2];
    __u64 vnk0;
    __u64 vnk1;
    __u32 lists;    /* KERNEL_HANDOFF: bit 0 the deny list in force, bit 1 the allow list (deny_list, allow_list) */
    __u32 list_gen; /* the generation of their entries in force: a reload writes the other, then flips this */
};

/* Must match XdpFastPath's counter indices. */
enum {
    C_SYN = 0,     /* SYNs to a protected port this program looked at */
    C_SYNACK = 1,  /* answered here */
    C_MARTIAN = 2, /* dropped: a source no TCP peer may have */
    C_PASSED = 3,  /* SYNs left to user space */
    C_SCREENED = 4,      /* segments without a connection (no SYN) to a protected port this program screened */
    C_ACK_DROPPED = 5,   /* of those: ACKs without a valid cookie, dropped (beyond the RST rate) */
    C_OTHER_DROPPED = 6, /* RST, FIN and the like, dropped: nothing user space would answer */
    C_MARTIAN_SEG = 7,   /* martian sources, dropped */
    C_ASSIGNED = 8,      /* KERNEL_HANDOFF: final ACKs handed to the listener */
    C_ASSIGN_FAILED = 9, /* KERNEL_HANDOFF: final ACKs the kernel did not take (dropped) */
    C_SYN_DENIED = 10,   /* KERNEL_HANDOFF: SYNs of a denied or not allowed source, dropped unanswered */
    C_ACK_DENIED = 11,   /* KERNEL_HANDOFF: final ACKs of such a source, dropped unverified */
    C_ACK_RST = 12,      /* KERNEL_HANDOFF: ACKs without a valid cookie left to the listener, which resets them */
    C_COUNT = 13,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fast_config);
} config SEC(".maps");

/* When the next invalid ACK may go on to user space (bpf_ktime_get_ns): written here, never by user space. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} rst_gate SEC(".maps");

/*
 * The deny and allow lists with --handoff kernel, whose final ACKs never reach user space (where the lists are
 * otherwise kept): prefixes of a generation (32 bits) and an address (128 bits, IPv4 as ::ffff:a.b.c.d), so that a
 * reload writes the new generation beside the old one and one config write puts it in force.
 */
struct list_key {
    __u32 prefixlen; /* 32 + the prefix length over the 128-bit address */
    __u32 gen;
    __u32 addr[4];   /* network order */
};

#define LIST_MAX_ENTRIES 262144

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, LIST_MAX_ENTRIES);
    __type(key, struct list_key);
    __type(value, __u8);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} deny_list SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, LIST_MAX_ENTRIES);
    __type(key, struct list_key);
    __type(value, __u8);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} allow_list SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, C_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

#ifdef KERNEL_HANDOFF
/*
 * Loop packing (io.synproxy.server.LoopPacking): the listening sockets by loop and listen (key loop * MAX_LISTENS16 +
 * the listen's index), and how many loops take new connections. pick_loop() below gives each new connection to one
 * of the first loops_active loops; 0 leaves it to the kernel's SO_REUSEPORT hash, as without packing.
 */
#define MAX_LISTENS16 16
#define MAX_LOOPS64 64

struct {
    __uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
    __uint(max_entries, MAX_LOOPS64 * MAX_LISTENS16);
    __type(key, __u32);
    __type(value, __u32);
} loop_listeners SEC(".maps");

/* [0]: how many loops take new connections; [1]: how many loops there are. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} loops_active SEC(".maps");
#endif

INLINE void count(__u32 which)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &which);
    /* Atomic although per CPU: where the program can be preempted (a softirq run in a thread), a plain add loses
     * counts. */
    if (v)
        __sync_fetch_and_add(v, 1);
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                      \
    do {                                                              \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);     \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                        \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                        \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);     \
    } while (0)

/* SipHash-2-4's state from the key, one message word compressed, and the finalization (SipHash.java). */
#define SIPINIT(k0, k1)                                               \
    __u64 v0 = (k0) ^ 0x736f6d6570736575ULL;                          \
    __u64 v1 = (k1) ^ 0x646f72616e646f6dULL;                          \
    __u64 v2 = (k0) ^ 0x6c7967656e657261ULL;                          \
    __u64 v3 = (k1) ^ 0x7465646279746573ULL
#define SIPWORD(m)                                                    \
    do {                                                              \
        __u64 m_ = (m);                                               \
        v3 ^= m_; SIPROUND; SIPROUND; v0 ^= m_;                       \
    } while (0)
#define SIPFINISH()                                                   \
    do {                                                              \
        v2 ^= 0xff;                                                   \
        SIPROUND; SIPROUND; SIPROUND; SIPROUND;                       \
    } while (0)

/* SipHash-2-4 of three 64-bit words (SipHash.hash24: the IPv4 cookie's message). */
INLINE __u64 siphash24(__u64 k0, __u64 k1, __u64 m0, __u64 m1, __u64 m2)
{
    SIPINIT(k0, k1);
    SIPWORD(m0);
    SIPWORD(m1);
    SIPWORD(m2);
    SIPWORD(24ULL << 56);
    SIPFINISH();
    return v0 ^ v1 ^ v2 ^ v3;
}

/* SipHash-2-4 of six 64-bit words (SipHash.hash48: the IPv6 cookie's message). */
INLINE __u64 siphash48(__u64 k0, __u64 k1, __u64 m0, __u64 m1, __u64 m2, __u64 m3, __u64 m4, __u64 m5)
{
    SIPINIT(k0, k1);
    SIPWORD(m0);
    SIPWORD(m1);
    SIPWORD(m2);
    SIPWORD(m3);
    SIPWORD(m4);
    SIPWORD(m5);
    SIPWORD(48ULL << 56);
    SIPFINISH();
    return v0 ^ v1 ^ v2 ^ v3;
}

/* CookieTables.mssIndex: the largest table entry not above the client's MSS. */
INLINE __u32 mss_index(__u32 mss)
{
    if (mss >= 1460) return 7;
    if (mss >= 1440) return 6;
    if (mss >= 1400) return 5;
    if (mss >= 1360) return 4;
    if (mss >= 1200) return 3;
    if (mss >= 536) return 2;
    if (mss >= 256) return 1;
    return 0;
}

/* CookieTables.mssIndex6: the same for the IPv6 table. */
INLINE __u32 mss_index6(__u32 mss)
{
    if (mss >= 1440) return 7;
    if (mss >= 1432) return 6;
    if (mss >= 1420) return 5;
    if (mss >= 1380) return 4;
    if (mss >= 1280) return 3;
    if (mss >= 1220) return 2;
    if (mss >= 536) return 1;
    return 0;
}

/* An IPv6 address (network order words) as TcpSegment holds it: the high or low 64 bits, as a number. */
INLINE __u64 half(const __u32 *a, int i)
{
    return (__u64) __builtin_bswap32(a[2 * i]) << 32 | __builtin_bswap32(a[2 * i + 1]);
}

INLINE __u16 fold(__u64 sum)
{
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16) ~sum;
}

/* The SYN's options, parsed as TcpOptions does, one option per bpf_loop step (the verifier checks the step once). */
struct syn_options {
    __u8 o[64];    /* the options, copied from the packet; zero beyond len */
    __u32 i;       /* where the next option starts */
    __u32 len;
    __s32 mss;     /* -1: absent */
    __s32 wscale;  /* -1: absent */
    __u32 sack;
    __u32 ts;
    __u32 tsval;   /* network order */
    __u32 bad;     /* malformed: user space decides */
};

static long parse_option(__u32 index, void *arg)
{
    struct syn_options *so = arg;
    __u32 i = so->i;
    if (i >= so->len || i >= OPTIONS_MAX)
        return 1;
    __u8 kind = so->o[i & 63];
    if (kind == 0)
        return 1;
    if (kind == 1) {
        so->i = i + 1;
        return 0;
    }
    __u8 olen = so->o[(i + 1) & 63];
    if (i + 1 >= so->len || olen < 2 || i + olen > so->len) {
        so->bad = 1;
        return 1;
    }
    if (kind == 2) {
        so->bad |= olen != 4;
        so->mss = so->o[(i + 2) & 63] << 8 | so->o[(i + 3) & 63];
    } else if (kind == 3) {
        so->bad |= olen != 3;
        so->wscale = so->o[(i + 2) & 63];
    } else if (kind == 4) {
        so->bad |= olen != 2;
        so->sack = 1;
    } else if (kind == 8) {
        so->bad |= olen != 10;
        so->ts = 1;
        so->tsval = (__u32) so->o[(i + 2) & 63] | (__u32) so->o[(i + 3) & 63] << 8
                | (__u32) so->o[(i + 4) & 63] << 16 | (__u32) so->o[(i + 5) & 63] << 24;
    }
    so->i = i + olen;
    return so->bad ? 1 : 0;
}

/* What decide() found: the reply's TCP header and options, and the addresses it goes between. */
struct reply {
    __u32 out[10];
    __u32 words;
    __u32 v6;
    __u32 src[4]; /* IPv4: the first word */
    __u32 dst[4];
};

enum { PASS, DROP, REPLY, TAG, TAKEOVER, ASSIGNED, KERNEL_SYN };

/* Whether the segment is to a protected address and port. */
INLINE int ours(struct fast_config *cfg, struct iphdr *ip, struct tcphdr *tcp)
{
    int found = 0;
    __u32 n = cfg->nlisten;
#pragma unroll
    for (int l = 0; l < MAX_LISTENS; l++) {
        if (l < n && cfg->listens[l].port == tcp->dest
                && (cfg->listens[l].addr == 0 || cfg->listens[l].addr == ip->daddr))
            found = 1;
    }
    return found;
}

INLINE int ours6(struct fast_config *cfg, struct ipv6hdr *ip6, struct tcphdr *tcp)
{
    int found = 0;
    __u32 n = cfg->nlisten6;
    const __u32 *d = ip6->daddr.in6_u.u6_addr32;
#pragma unroll
    for (int l = 0; l < MAX_LISTENS; l++) {
        const __u32 *a = cfg->listens6[l].addr;
        if (l < n && cfg->listens6[l].port == tcp->dest
                && ((a[0] | a[1] | a[2] | a[3]) == 0 || (a[0] == d[0] && a[1] == d[1] && a[2] == d[2] && a[3] == d[3])))
            found = 1;
    }
    return found;
}

/* MartianSource.ipv4 (host order): a source no TCP peer may have, never answered. */
INLINE int martian4(__u32 saddr, __u32 daddr)
{
    __u32 first = saddr >> 24;
    return first == 0 || first == 127 || first >= 224 || saddr == daddr;
}

/* MartianSource.ipv6, on the addresses' halves. */
INLINE int martian6(__u64 s_hi, __u64 s_lo, __u64 d_hi, __u64 d_lo)
{
    return (s_hi == 0 && (s_lo == 0 || s_lo == 1 || s_lo >> 32 == 0xffff)) || s_hi >> 56 == 0xff
            || (s_hi == d_hi && s_lo == d_lo);
}

/* Whether the frame is addressed to the interface: one to another (promiscuous, bridged), broadcast or multicast MAC
 * is not ours to answer or drop. */
INLINE int to_us(struct ethhdr *eth, struct fast_config *cfg)
{
#pragma unroll
    for (int i = 0; i < 6; i++) {
        if (eth->h_dest[i] != cfg->mac[i])
            return 0;
    }
    return 1;
}

/* SipHash of the cookie's message for either family (SynCookie.hash4, hash6), before it is cut to the MAC. */
INLINE __u64 cookie_tag(__u64 k0, __u64 k1, int v6, __u64 s_hi, __u64 s_lo, __u64 d_hi, __u64 d_lo, __u32 saddr,
        __u32 daddr, __u64 ports, __u32 bits)
{
    return v6 ? siphash48(k0, k1, s_hi, s_lo, d_hi, d_lo, ports, bits)
            : siphash24(k0, k1, (__u64) saddr << 32 | daddr, ports, bits);
}

/* Whether a cookie hash (the top 23 bits of the tag) matches the segment's ACK in either of SynCookie.match's forms. */
INLINE int cookie_matches(__u64 tag, __u32 isn, __u32 seq, int probe_allowed)
{
    __u32 mac = isn >> 9;
    __u32 h = (__u32) (tag >> 41);
    return (h ^ (((seq - 1) * 0x9E3779B1u) >> 9)) == mac || (probe_allowed && (h ^ ((seq * 0x9E3779B1u) >> 9)) == mac);
}

/*
 * A segment with no SYN to a protected address and port, of the kind the capture rings would take (with the zero
 * window, at most one byte of payload): what the Java front end would do with it, decided here where that is nothing.
 *
 * - This host's kernel holds a socket for the tuple (a handed-off connection, or one in TIME_WAIT): PASS, and TAG a
 *   full socket's segment at tc, which the rings' classic filter then drops (io.synproxy.frontend.Bpf): the client's
 *   ACKs of a live connection wake no loop.
 * - Otherwise, unless the pass switch is on (a deny or allow list in force): a martian source, a RST or FIN
 *   or any segment that is not a plain ACK (SegmentGate counts those and does nothing else), and an ACK whose cookie
 *   does not verify (SynCookie.verifyAck, both forms) are dropped here and counted. Of the invalid ACKs, one per
 *   rst_gap_ns goes on, so that user space still answers a real client's stale ACK with a RST at its
 *   --invalid-ack-rst-rate. An ACK that verifies goes on to its handoff.
 *
 * The check here is a screen, never the verdict: user space verifies every ACK this passes. It therefore accepts a
 * superset, the next generation's key too, since the map is rewritten every 250 ms and the clock does not wait, and
 * a validate-only secret's keys while one is in force (a fleet rolling its secret).
 * An ACK flood then costs this program a socket lookup and one or two hashes a packet, and the loops nothing.
 */
/* The segment's tuple, for a socket lookup; returns the size of the family's half of it. */
INLINE __u32 tuple_of(struct bpf_sock_tuple *t, struct iphdr *ip, struct ipv6hdr *ip6, struct tcphdr *tcp, int v6)
{
    if (v6) {
        __builtin_memcpy(t->ipv6.saddr, ip6->saddr.in6_u.u6_addr32, 16);
        __builtin_memcpy(t->ipv6.daddr, ip6->daddr.in6_u.u6_addr32, 16);
        t->ipv6.sport = tcp->source;
        t->ipv6.dport = tcp->dest;
        return sizeof(t->ipv6);
    }
    t->ipv4.saddr = ip->saddr;
    t->ipv4.daddr = ip->daddr;
    t->ipv4.sport = tcp->source;
    t->ipv4.dport = tcp->dest;
    return sizeof(t->ipv4);
}

/*
 * The TCP header after an IPv6 packet's extension headers (hop-by-hop, routing and destination options, and a fragment
 * header that starts the packet and ends it: an atomic fragment), or NULL: another header, more than four, a real
 * fragment, or the end of the frame.
 */
INLINE struct tcphdr *past_extensions(struct ipv6hdr *ip6, void *end)
{
    __u8 next = ip6->nexthdr;
    __u8 *p = (__u8 *) (ip6 + 1);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (next == IPPROTO_TCP)
            return (struct tcphdr *) p;
        if ((void *) (p + 8) > end)
            return 0;
        if (next == 0 || next == 43 || next == 60) {
            next = p[0];
            p += (p[1] + 1) * 8;
        } else if (next == 44) {
            if (((p[2] << 8 | p[3]) & 0xfff9) != 0)
                return 0;
            next = p[0];
            p += 8;
        } else {
            return 0;
        }
    }
    return next == IPPROTO_TCP ? (struct tcphdr *) p : 0;
}

#ifdef KERNEL_HANDOFF
INLINE __u32 be32(const __u8 *p)
{
    return (__u32) p[0] << 24 | (__u32) p[1] << 16 | (__u32) p[2] << 8 | p[3];
}

/*
 * CookieTables' MSS for an index, raised to the least the kernel builds a socket with (536, or 1220 over IPv6), as
 * Linux's own cookies do (their smallest entry is 536). A switch: a table would be .rodata of a section of constants,
 * which this libbpf does not map.
 */
INLINE __u16 table_mss(__u32 i, int v6)
{
    switch (i & 7) {
    case 0:
    case 1: return v6 ? 1220 : 536;
    case 2: return v6 ? 1220 : 536;
    case 3: return v6 ? 1280 : 1200;
    case 4: return v6 ? 1380 : 1360;
    case 5: return v6 ? 1420 : 1400;
    case 6: return v6 ? 1432 : 1440;
    default: return v6 ? 1440 : 1460;
    }
}

/*
 * A final ACK whose cookie verified, handed to the proxy's listener: the options the cookie carries (SynCookie's
 * option bits) and the timestamps of the ACK (NOP NOP TS, or TS first, as clients send them) become the request the
 * kernel builds the connection from, in softirq, as from its own SYN cookies; the proxy accepts it. ASSIGNED, or DROP
 * where the kernel refuses (out of memory): the client's next segment carries the same ACK.
 */
INLINE int assign(struct __sk_buff *skb, struct fast_config *cfg, struct bpf_sock_tuple *t, __u32 size,
        struct tcphdr *tcp, void *end, __u32 bits, int v6)
{
    struct bpf_tcp_req_attrs attrs = {};
    __u8 *o = (void *) (tcp + 1);
    if (tcp->doff >= 8 && (void *) (o + 12) <= end) {
        if (o[0] == 1 && o[1] == 1 && o[2] == 8 && o[3] == 10) {
            attrs.tstamp_ok = 1;
            attrs.rcv_tsval = be32(o + 4);
            attrs.rcv_tsecr = be32(o + 8);
        } else if (o[0] == 8 && o[1] == 10) {
            attrs.tstamp_ok = 1;
            attrs.rcv_tsval = be32(o + 2);
            attrs.rcv_tsecr = be32(o + 6);
        }
    }
    attrs.mss = table_mss(bits >> 2, v6);
    __u32 wi = (bits >> 5) & 15;
    if (wi != 0) {
        attrs.wscale_ok = 1;
        attrs.snd_wscale = wi - 1;
        attrs.rcv_wscale = cfg->wscale > 0 ? cfg->wscale : 0;
    }
    attrs.sack_ok = (bits >> 1) & 1;
    struct bpf_sock *skc = bpf_skc_lookup_tcp(skb, t, size, BPF_F_CURRENT_NETNS, 0);
    if (!skc)
        return DROP;
    int r = -1;
    if (skc->state == BPF_TCP_LISTEN) {
        struct sock *sk = bpf_skc_to_tcp_sock(skc);
        if (sk)
            r = bpf_sk_assign_tcp_reqsk(skb, sk, &attrs, sizeof(attrs));
    }
    bpf_sk_release(skc);
    if (r != 0) {
        count(C_ASSIGN_FAILED);
        return DROP;
    }
    count(C_ASSIGNED);
    return ASSIGNED;
}

/* Whether this host's kernel holds the SYN's tuple in TIME_WAIT. */
INLINE int time_wait(void *ctx, struct iphdr *ip, struct ipv6hdr *ip6, struct tcphdr *tcp, int v6)
{
    struct bpf_sock_tuple t = {};
    __u32 size = tuple_of(&t, ip, ip6, tcp, v6);
    struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
    if (!sk)
        return 0;
    int tw = sk->state == BPF_TCP_TIME_WAIT;
    bpf_sk_release(sk);
    return tw;
}
#endif

/* SourceAccess.permits: not denied, and allowed when there is an allow list. The headers are bounds-checked. */
INLINE int permitted(struct fast_config *cfg, struct iphdr *ip, struct ipv6hdr *ip6, int v6)
{
    struct list_key k = {};
    k.prefixlen = 32 + 128;
    k.gen = cfg->list_gen & 1;
    if (v6) {
        const __u32 *sa = ip6->saddr.in6_u.u6_addr32;
        k.addr[0] = sa[0];
        k.addr[1] = sa[1];
        k.addr[2] = sa[2];
        k.addr[3] = sa[3];
    } else {
        k.addr[2] = __builtin_bswap32(0xffff);
        k.addr[3] = ip->saddr;
    }
    if ((cfg->lists & 1) && bpf_map_lookup_elem(&deny_list, &k))
        return 0;
    if ((cfg->lists & 2) && !bpf_map_lookup_elem(&allow_list, &k))
        return 0;
    return 1;
}

INLINE int screen(void *ctx, void *end, struct ethhdr *eth, struct iphdr *ip, struct ipv6hdr *ip6, struct tcphdr *tcp,
        int v6, int tc)
{
    __u32 zero = 0;
    struct fast_config *cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return PASS;
    struct bpf_sock_tuple t = {};
    __u32 size;
    __u32 payload;
    __u32 tcplen = tcp->doff * 4;
    if (tcplen < 20)
        return PASS;
    if (v6) {
        if (!ours6(cfg, ip6, tcp))
            return PASS;
        payload = __builtin_bswap16(ip6->payload_len) - tcplen;
    } else {
        if (!ours(cfg, ip, tcp))
            return PASS;
        /* A fragment: user space reassembles nothing either, but counts it. */
        if ((ip->frag_off & __builtin_bswap16(0x3fff)) != 0)
            return PASS;
        payload = __builtin_bswap16(ip->tot_len) - 20 - tcplen;
    }
    /* Data the rings' filter keeps out (see SegmentGate): the kernel's business, as before. */
    if (cfg->window == 0 && (__s32) payload > 1)
        return PASS;
    size = tuple_of(&t, ip, ip6, tcp, v6);
    struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
    int tw = 0;
    int listener = 0;
    if (sk) {
        __u32 state = sk->state;
        bpf_sk_release(sk);
        /*
         * A listener is someone else's port, but ours with KERNEL_HANDOFF; TIME_WAIT and request sockets are no full
         * socket, the rings see them (with KERNEL_HANDOFF there are no rings: the kernel's business).
         */
        if (tc && HANDOFF_KERNEL && state == BPF_TCP_LISTEN)
            listener = 1;
        else if (state == BPF_TCP_LISTEN || state == BPF_TCP_NEW_SYN_RECV)
            return PASS;
        else if (state != BPF_TCP_TIME_WAIT)
            return TAG;
        else
            tw = 1;
    }
    /* What the listener would answer with a RST and no ring takes (before the pass switch is off: at start-up). */
    if (cfg->pass)
        return listener ? DROP : PASS;
    if (!to_us(eth, cfg))
        return listener ? DROP : PASS;
    /*
     * A TIME_WAIT (the proxy closed first, and the client reuses its port) keeps every segment but a final ACK of a
     * new handshake, which the handoff takes the tuple over with: TAKEOVER, so that the TIME_WAIT never sees it.
     * Seen by the TIME_WAIT, the ACK drew the old connection's ACK, the client answered that with a duplicate
     * ACK, and the ring took that as a replay of the final ACK: two more segments each way per reused tuple.
     */
    if (tw) {
        if (!tcp->ack || tcp->rst || tcp->fin)
            return PASS;
    } else {
        count(C_SCREENED);
    }
    __u64 s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
    __u32 saddr = 0, daddr = 0;
    if (v6) {
        const __u32 *sa = ip6->saddr.in6_u.u6_addr32;
        const __u32 *da = ip6->daddr.in6_u.u6_addr32;
        s_hi = half(sa, 0);
        s_lo = half(sa, 1);
        d_hi = half(da, 0);
        d_lo = half(da, 1);
    } else {
        saddr = __builtin_bswap32(ip->saddr);
        daddr = __builtin_bswap32(ip->daddr);
    }
    if (!tw && (v6 ? martian6(s_hi, s_lo, d_hi, d_lo) : martian4(saddr, daddr))) {
        count(C_MARTIAN_SEG);
        return DROP;
    }
    /* Handshake.isAck: ACK set; SYN, RST and FIN clear. */
    if (!tcp->ack || tcp->rst || tcp->fin) {
        count(C_OTHER_DROPPED);
        return DROP;
    }
    /* A listed source's final ACK is not verified (AccessAdmission), and never reaches the listener. */
    if (listener && cfg->lists && !permitted(cfg, ip, ip6, v6)) {
        count(C_ACK_DENIED);
        return DROP;
    }
    __u32 isn = __builtin_bswap32(tcp->ack_seq) - 1;
    __u32 seq = __builtin_bswap32(tcp->seq);
    __u32 bits = isn & 0x1ff;
    __u32 parity = bits & 1;
    __u64 ports = (__u64) __builtin_bswap16(tcp->source) << 48 | (__u64) __builtin_bswap16(tcp->dest) << 32;
    /* With KERNEL_HANDOFF the SYN/ACK opened the window: no zero-window probe, the kernel takes only seq - 1. */
    int probe = payload == 0 && !(tc && HANDOFF_KERNEL);
    /* The next generation's key lives in the slot the current one does not. */
    int other = parity != (cfg->parity & 1);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        __u64 k0, k1;
        if (k == 0) {
            k0 = parity ? cfg->k0[1] : cfg->k0[0];
            k1 = parity ? cfg->k1[1] : cfg->k1[0];
        } else if (k == 1) {
            if (!other)
                continue;
            k0 = cfg->nk0;
            k1 = cfg->nk1;
        } else if (k == 2) {
            if (!cfg->validate)
                break;
            k0 = parity ? cfg->vk0[1] : cfg->vk0[0];
            k1 = parity ? cfg->vk1[1] : cfg->vk1[0];
        } else {
            if (!other)
                break;
            k0 = cfg->vnk0;
            k1 = cfg->vnk1;
        }
        if (cookie_matches(cookie_tag(k0, k1, v6, s_hi, s_lo, d_hi, d_lo, saddr, daddr, ports, bits), isn, seq, probe)) {
#ifdef KERNEL_HANDOFF
            /* A TIME_WAIT met since the SYN (the kernel took the SYNs of its tuples): its own business. */
            if (tc)
                return listener ? assign(ctx, cfg, &t, size, tcp, end, bits, v6) : PASS;
#endif
            return tw ? TAKEOVER : PASS;
        }
    }
    /* Not a new handshake's: the TIME_WAIT's business (a late segment of the old connection). */
    if (tw)
        return PASS;
    __u64 gap = cfg->rst_gap_ns;
    __u64 *next = bpf_map_lookup_elem(&rst_gate, &zero);
    if (gap != 0 && next) {
        __u64 now = bpf_ktime_get_ns();
        /* Racy across CPUs, at worst a few more through: user space's own bucket has the last word. */
        if (now >= *next) {
            /* To the rings, whose loop answers with a RST; with KERNEL_HANDOFF to the listener, which does. */
            *next = now + gap;
            if (tc && HANDOFF_KERNEL)
                count(C_ACK_RST);
            return PASS;
        }
    }
    count(C_ACK_DROPPED);
    return DROP;
}

/*
 * The decision for one frame (Ethernet from data): PASS (to the capture ring and the kernel), DROP (a martian
 * source, or a segment screen() drops), TAG (a live connection's segment, see screen()), or REPLY with the SYN/ACK's
 * TCP header and options in r. Reads the packet, never writes it.
 */
static __attribute__((always_inline)) inline int decide(void *ctx, void *data, void *end, struct reply *r, int tc)
{
    struct ethhdr *eth = data;
    if ((void *) (eth + 1) > end)
        return PASS;
    struct iphdr *ip = (void *) (eth + 1);
    struct ipv6hdr *ip6 = (void *) (eth + 1);
    struct tcphdr *tcp;
    int v6;
    /* IP options or IPv6 extension headers: only with KERNEL_HANDOFF at tc, where the listener takes such a SYN. */
    int odd = 0;
    if (eth->h_proto == __builtin_bswap16(ETH_P_IP)) {
        if ((void *) (ip + 1) > end || ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_TCP)
            return PASS;
        if (ip->ihl != 5) {
            if (!(tc && HANDOFF_KERNEL))
                return PASS;
            odd = 1;
        }
        tcp = (void *) ip + ip->ihl * 4;
        v6 = 0;
    } else if (eth->h_proto == __builtin_bswap16(ETH_P_IPV6)) {
        /* Extension headers are rare: user space has the full parser for them (KERNEL_HANDOFF: past_extensions()). */
        if ((void *) (ip6 + 1) > end || ip6->version != 6)
            return PASS;
        tcp = (void *) (ip6 + 1);
        v6 = 1;
        if (ip6->nexthdr != IPPROTO_TCP) {
            if (!(tc && HANDOFF_KERNEL))
                return PASS;
            tcp = past_extensions(ip6, end);
            if (!tcp)
                return PASS;
            odd = 1;
        }
    } else {
        return PASS;
    }
    if ((void *) (tcp + 1) > end)
        return PASS;
    if (!tcp->syn)
        return odd ? PASS : screen(ctx, end, eth, ip, ip6, tcp, v6, tc);
    /* A SYN: no ACK, RST or FIN. */
    if (tcp->ack || tcp->rst || tcp->fin)
        return PASS;
    __u32 zero = 0;
    struct fast_config *cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return PASS;
    /* Not for this host: the kernel would not take it, and the Java front end does not answer it either. */
    if (!to_us(eth, cfg))
        return PASS;
    if (v6 ? !ours6(cfg, ip6, tcp) : !ours(cfg, ip, tcp))
        return PASS;
    count(C_SYN);
    /* With KERNEL_HANDOFF the lists are here: a listed source's SYN gets nothing (AccessAdmission). */
    if (tc && cfg->lists && !permitted(cfg, ip, ip6, v6)) {
        count(C_SYN_DENIED);
        return DROP;
    }
#ifdef KERNEL_HANDOFF
    /*
     * A client that reuses the port of a connection the proxy closed first: the TIME_WAIT gives way to the listener,
     * whose handshake the kernel makes, as it would without the proxy. A cookie here would meet the TIME_WAIT with
     * the final ACK. A socket lookup per SYN, under a flood too.
     */
    if (tc && time_wait(ctx, ip, ip6, tcp, v6))
        return KERNEL_SYN;
#endif
    if (cfg->pass || odd)
        goto pass;
    /* Fragments and payload (a TFO SYN) are rare: user space has the full parser (KERNEL_HANDOFF: the listener). */
    __u32 tcplen = tcp->doff * 4;
    if (tcplen < 20)
        goto pass;
    /* The addresses' one's complement sum: the pseudo-header's, the same for the SYN and its reply. */
    __u64 addrs = 0;
    __u64 s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
    __u32 saddr = 0, daddr = 0;
    if (v6) {
        if (__builtin_bswap16(ip6->payload_len) != tcplen)
            goto pass;
        const __u32 *sa = ip6->saddr.in6_u.u6_addr32;
        const __u32 *da = ip6->daddr.in6_u.u6_addr32;
        s_hi = half(sa, 0);
        s_lo = half(sa, 1);
        d_hi = half(da, 0);
        d_lo = half(da, 1);
        if (martian6(s_hi, s_lo, d_hi, d_lo)) {
            count(C_MARTIAN);
            return DROP;
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            addrs += sa[i];
            addrs += da[i];
            r->src[i] = da[i];
            r->dst[i] = sa[i];
        }
    } else {
        if ((ip->frag_off & __builtin_bswap16(0x3fff)) != 0 || __builtin_bswap16(ip->tot_len) != 20 + tcplen)
            goto pass;
        saddr = __builtin_bswap32(ip->saddr);
        daddr = __builtin_bswap32(ip->daddr);
        if (martian4(saddr, daddr)) {
            count(C_MARTIAN);
            return DROP;
        }
        __u64 sum = 0;
        __u16 *w = (__u16 *) ip;
#pragma unroll
        for (int i = 0; i < 10; i++)
            sum += w[i];
        if (fold(sum) != 0)
            goto pass;
        addrs = (__u64) ip->saddr + ip->daddr;
        r->src[0] = ip->daddr;
        r->dst[0] = ip->saddr;
    }
    /*
     * The options, onto the stack: constant packet offsets for the verifier, four bytes a step (their length is a
     * multiple of four), so that it follows 11 lengths, not 41.
     */
    struct syn_options so = {};
    __u8 *opts = so.o;
    __u32 optlen = tcplen - 20;
    const __u8 *p = (const __u8 *) (tcp + 1);
#pragma unroll
    for (int i = 0; i < OPTIONS_MAX / 4; i++) {
        if (i * 4 < optlen) {
            if ((void *) (p + i * 4 + 4) > end)
                goto pass;
            ((__u32 *) opts)[i] = *(const __u32 *) (p + i * 4);
        }
    }
    /* The TCP checksum. */
    __u64 pseudo = addrs + __builtin_bswap16(IPPROTO_TCP) + __builtin_bswap16(tcplen);
    __u64 sum = pseudo;
    __u16 *w = (__u16 *) tcp;
#pragma unroll
    for (int i = 0; i < 10; i++)
        sum += w[i];
    __u16 *ow = (__u16 *) opts;
#pragma unroll
    for (int i = 0; i < OPTIONS_MAX / 2; i++)
        sum += ow[i];
    /*
     * A sender on this host that offloads checksums (a veth or container peer: CHECKSUM_PARTIAL) leaves in the field
     * the pseudo-header's sum, for a NIC the frame never reaches. The kernel takes such a frame as valid, and so does
     * the Java front end (TP_STATUS_CSUMNOTREADY). Here the field is all there is to go by: a SYN from the wire with
     * that value by chance is answered rather than dropped, which gives its sender nothing a valid SYN would not.
     */
    if (fold(sum) != 0 && tcp->check != (__u16) ~fold(pseudo))
        goto pass;
    so.len = optlen;
    so.mss = -1;
    so.wscale = -1;
    bpf_loop(OPTIONS_MAX, parse_option, &so, 0);
    if (so.bad)
        goto pass;
    /*
     * bpf_sk_assign_tcp_reqsk builds no socket below 536 (1220 over IPv6): a client that asks for smaller segments
     * makes its handshake with the listener, which sends what it asked for (RFC 9293 MUST-16).
     */
    if (tc && HANDOFF_KERNEL && so.mss >= 0 && so.mss < (v6 ? 1220 : 536))
        goto pass;

    /* The cookie: SynCookie.encode, encode6. */
    __u32 parity = cfg->parity & 1;
    __u32 ms = v6 ? mss_index6(so.mss < 0 ? 1220 : so.mss) : mss_index(so.mss < 0 ? 536 : so.mss);
    __u32 wsidx = so.wscale < 0 ? 0 : (so.wscale > 14 ? 14 : so.wscale) + 1;
    __u32 bits = wsidx << 5 | ms << 2 | (so.sack ? 2 : 0) | parity;
    __u16 sport = __builtin_bswap16(tcp->source);
    __u16 dport = __builtin_bswap16(tcp->dest);
    __u32 client_isn = __builtin_bswap32(tcp->seq);
    __u64 k0 = parity ? cfg->k0[1] : cfg->k0[0];
    __u64 k1 = parity ? cfg->k1[1] : cfg->k1[0];
    __u64 ports = (__u64) sport << 48 | (__u64) dport << 32;
    __u64 tag = cookie_tag(k0, k1, v6, s_hi, s_lo, d_hi, d_lo, saddr, daddr, ports, bits);
    __u32 mac = (__u32) (tag >> 41) ^ ((client_isn * 0x9E3779B1u) >> 9);
    __u32 isn = mac << 9 | bits;

    /* The SYN/ACK's TCP header and options (TcpSegmentWriter's layout). */
    __u32 *out = r->out;
    __u32 words = 6;
    out[5] = __builtin_bswap32(2u << 24 | 4u << 16 | ((v6 ? cfg->mss6 : cfg->mss) & 0xffff));
    __u32 tsnow = (__u32) (bpf_ktime_get_ns() / 1000000) & ~1u;
    if (so.ts) {
        out[6] = __builtin_bswap32(so.sack ? (4u << 24 | 2u << 16 | 8u << 8 | 10u) : (1u << 24 | 1u << 16 | 8u << 8 | 10u));
        out[7] = __builtin_bswap32(tsnow);
        out[8] = so.tsval;
        words = 9;
    } else if (so.sack) {
        out[6] = __builtin_bswap32(1u << 24 | 1u << 16 | 4u << 8 | 2u);
        words = 7;
    }
    if (wsidx != 0) {
        __u32 ws = __builtin_bswap32(1u << 24 | 3u << 16 | 3u << 8 | (cfg->wscale & 0xff));
        if (words == 6)
            out[6] = ws;
        else if (words == 7)
            out[7] = ws;
        else
            out[9] = ws;
        words++;
    }
    struct tcphdr *t = (struct tcphdr *) out;
    t->source = tcp->dest;
    t->dest = tcp->source;
    t->seq = __builtin_bswap32(isn);
    t->ack_seq = __builtin_bswap32(client_isn + 1);
    ((__u8 *) out)[12] = (__u8) (words << 4);
    ((__u8 *) out)[13] = 0x12; /* SYN|ACK */
    t->window = __builtin_bswap16((__u16) cfg->window);
    r->words = words;
    r->v6 = v6;
    sum = addrs + __builtin_bswap16(IPPROTO_TCP) + __builtin_bswap16(words * 4);
    __u16 *tw = (__u16 *) out;
#pragma unroll
    for (int i = 0; i < 20; i++)
        sum += tw[i];
    t->check = fold(sum);
    return REPLY;
pass:
    count(C_PASSED);
    /*
     * With KERNEL_HANDOFF nothing captures: a SYN this program leaves (IP options or extension headers, a fragment,
     * data, odd options, a checksum to check, a small MSS) goes to the listener, which makes its handshake as it would
     * without the proxy (and, flooded, with the kernel's own cookies). Not while the pass switch is on at start-up.
     */
    if (tc && HANDOFF_KERNEL && !cfg->pass)
        return KERNEL_SYN;
    return PASS;
}

/* The reply's length from the Ethernet header on. */
static __attribute__((always_inline)) inline int reply_length(struct reply *r)
{
    return 14 + (r->v6 ? 40 : 20) + (int) r->words * 4;
}

/* Writes the reply over the frame, already resized to reply_length: 0, or -1 when the frame is too short. */
static __attribute__((always_inline)) inline int write_reply(void *data, void *end, struct reply *r)
{
    struct ethhdr *eth = data;
    if ((void *) eth + 14 + 20 + 20 > end)
        return -1;
    __u8 mac_tmp[ETH_ALEN];
    __builtin_memcpy(mac_tmp, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, mac_tmp, ETH_ALEN);
    __u32 *dstw;
    if (r->v6) {
        struct ipv6hdr *ip6 = (void *) (eth + 1);
        if ((void *) (ip6 + 1) > end)
            return -1;
        /* Ipv6Flyweight.header: version 6, traffic class and flow label 0, hop limit 64. */
        *(__u32 *) ip6 = __builtin_bswap32(6u << 28);
        ip6->payload_len = __builtin_bswap16(r->words * 4);
        ip6->nexthdr = IPPROTO_TCP;
        ip6->hop_limit = 64;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            ip6->saddr.in6_u.u6_addr32[i] = r->src[i];
            ip6->daddr.in6_u.u6_addr32[i] = r->dst[i];
        }
        dstw = (__u32 *) (ip6 + 1);
    } else {
        struct iphdr *ip = (void *) (eth + 1);
        ip->tos = 0;
        ip->tot_len = __builtin_bswap16(20 + r->words * 4);
        ip->id = 0;
        ip->frag_off = __builtin_bswap16(0x4000);
        ip->ttl = 64;
        ip->protocol = IPPROTO_TCP;
        ip->saddr = r->src[0];
        ip->daddr = r->dst[0];
        ip->check = 0;
        __u64 sum = 0;
        __u16 *w = (__u16 *) ip;
#pragma unroll
        for (int i = 0; i < 10; i++)
            sum += w[i];
        ip->check = fold(sum);
        dstw = (__u32 *) (ip + 1);
    }
#pragma unroll
    for (int i = 0; i < 10; i++) {
        if (i < r->words) {
            if ((void *) (dstw + i + 1) > end)
                return -1;
            dstw[i] = r->out[i];
        }
    }
    count(C_SYNACK);
    return 0;
}

/* XDP (--syn-path xdp, xdp-generic): the SYN/ACK leaves through the interface it came in on. */
SEC("xdp")
int synproxy_xdp(struct xdp_md *ctx)
{
    struct reply r = {};
    int verdict = decide(ctx, (void *) (long) ctx->data, (void *) (long) ctx->data_end, &r, 0);
    if (verdict != REPLY)
        return verdict == DROP ? XDP_DROP : XDP_PASS;
    int delta = reply_length(&r) - (int) (ctx->data_end - ctx->data);
    if (delta != 0 && bpf_xdp_adjust_tail(ctx, delta) != 0) {
        count(C_PASSED);
        return XDP_PASS;
    }
    if (write_reply((void *) (long) ctx->data, (void *) (long) ctx->data_end, &r) != 0)
        return XDP_ABORTED;
    return XDP_TX;
}

/*
 * tc ingress (--syn-path tc): the same, on the socket buffer after GRO, so that the data of live connections
 * passes untouched (generic XDP copies every large packet to make it linear); the SYN/ACK is redirected to the
 * interface's egress. What it passes it returns as TC_ACT_UNSPEC (tcx's TCX_NEXT), not TC_ACT_OK: the next program
 * on the interface (a second instance's, with other listens or in an upgrade in place) sees it too, and after the
 * last one it goes on as usual.
 */
SEC("tc")
int synproxy_tc(struct __sk_buff *skb)
{
    struct reply r = {};
    /*
     * A frame sent from a packet ring (trafgen) keeps only its Ethernet header in the linear part. Its headers are
     * pulled in only when a copy of them says it is a SYN, or a segment without SYN short enough to be a handshake's
     * ACK (headers and at most one byte): pulling may reallocate the buffer, which a data segment must not pay for.
     */
    void *data = (void *) (long) skb->data;
    void *data_end = (void *) (long) skb->data_end;
    __u32 need = 14 + 20 + 20;
    if (data + 14 <= data_end && ((struct ethhdr *) data)->h_proto == __builtin_bswap16(ETH_P_IPV6))
        need = 14 + 40 + 20;
    if (data + need > data_end) {
        __u8 h[14 + 40 + 20];
        if (skb->len < 14 + 20 + 20 || bpf_skb_load_bytes(skb, 0, h, 14 + 20 + 20) != 0)
            return TC_ACT_UNSPEC;
        __u32 want;
        if (h[12] == 0x08 && h[13] == 0x00) {
            /* IPv4 without options, TCP, and of FIN, SYN, RST and ACK only SYN; or no SYN and short. */
            if (h[14] != 0x45 || h[23] != IPPROTO_TCP)
                return TC_ACT_UNSPEC;
            if ((h[47] & 0x17) != 0x02 && ((h[47] & 0x02) != 0 || skb->len > 14 + 20 + 60 + 1))
                return TC_ACT_UNSPEC;
            want = 14 + 20 + 60;
        } else if (h[12] == 0x86 && h[13] == 0xdd) {
            /* IPv6, TCP right after the header, only SYN. */
            if (skb->len < 14 + 40 + 20 || bpf_skb_load_bytes(skb, 0, h, 14 + 40 + 20) != 0)
                return TC_ACT_UNSPEC;
            if ((h[14] >> 4) != 6 || h[20] != IPPROTO_TCP)
                return TC_ACT_UNSPEC;
            if ((h[67] & 0x17) != 0x02 && ((h[67] & 0x02) != 0 || skb->len > 14 + 40 + 60 + 1))
                return TC_ACT_UNSPEC;
            want = 14 + 40 + 60;
        } else {
            return TC_ACT_UNSPEC;
        }
        bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
    }
    int verdict = decide(skb, (void *) (long) skb->data, (void *) (long) skb->data_end, &r, 1);
    if (verdict == TAG || verdict == ASSIGNED) {
        /* A live connection's segment, or a final ACK on its way to TCP with its request socket: for no ring. */
        bpf_set_hash(skb, KERNEL_OWNED_HASH);
        return verdict == ASSIGNED ? TC_ACT_OK : TC_ACT_UNSPEC;
    }
    if (verdict == TAKEOVER || verdict == KERNEL_SYN) {
        skb->priority = verdict == TAKEOVER ? TAKEOVER_PRIORITY : KERNEL_SYN_PRIORITY;
        return TC_ACT_UNSPEC;
    }
    if (verdict != REPLY)
        return verdict == DROP ? TC_ACT_SHOT : TC_ACT_UNSPEC;
    if (bpf_skb_change_tail(skb, reply_length(&r), 0) != 0) {
        count(C_PASSED);
        return TC_ACT_UNSPEC;
    }
    if (write_reply((void *) (long) skb->data, (void *) (long) skb->data_end, &r) != 0)
        return TC_ACT_SHOT;
    return bpf_redirect(skb->ifindex, 0);
}

#ifdef KERNEL_HANDOFF
/*
 * The SO_REUSEPORT program of the proxy's listening sockets, which the kernel runs for every new connection to them,
 * also for the final ACKs assign() hands to a listener (the kernel then picks within its group again). It picks one of
 * the first loops_active[0] loops at random, and that loop's listener of the group: the listens are separate groups,
 * so the select fails (EXDEV) for every listen but the connection's own. A loop at --max-connections has taken its
 * listeners out of the map (KernelAccept): then the next taking loop, then the loops past them, in order. Where none
 * is taken (packing off, every loop full, another instance's group), the kernel's hash picks, as without a program.
 */
SEC("sk_reuseport")
int pick_loop(struct sk_reuseport_md *md)
{
    __u32 zero = 0, one = 1;
    __u32 *active = bpf_map_lookup_elem(&loops_active, &zero);
    __u32 *loops = bpf_map_lookup_elem(&loops_active, &one);
    if (!active || !loops || *active == 0)
        return SK_PASS;
    __u32 n = *active;
    __u32 total = *loops;
    __u32 start = n > 1 ? bpf_get_prandom_u32() % n : 0;
    for (__u32 t = 0; t < MAX_LOOPS64; t++) {
        if (t >= total)
            break;
        __u32 loop = t;
        if (t < n) {
            loop = start + t;
            if (loop >= n)
                loop -= n;
        }
        for (__u32 i = 0; i < MAX_LISTENS16; i++) {
            __u32 key = loop * MAX_LISTENS16 + i;
            if (bpf_sk_select_reuseport(md, &loop_listeners, &key, 0) == 0)
                return SK_PASS;
        }
    }
    return SK_PASS;
}
#endif

char _license[] SEC("license") = "GPL";
