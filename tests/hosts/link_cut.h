/* Cutting this host off from another node's host, and healing it, with nftables rules in the
 * calling process's own network namespace (tests under on_hosts.sh, as root). Two ways to cut:
 *   drop    packets to and from the host vanish (a pulled cable, a silent firewall);
 *   reject  what arrives from the host is answered with a TCP reset, what goes to it with an ICMP
 *           host-unreachable (a firewall that says no). */
#ifndef AETHER_LINK_CUT_H
#define AETHER_LINK_CUT_H

#include "cluster_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reasons an access to a node cut off from this one may give (docs/protocol.md, "Leases and
 * fencing": which reason when). */
static inline int cut_reason(Seraph_Aether_Void_Reason r) {
    return r == SERAPH_AETHER_VOID_TIMEOUT || r == SERAPH_AETHER_VOID_UNREACHABLE || r == SERAPH_AETHER_VOID_PARTITION;
}

static inline int cut_mode_ok(const char* mode) { return strcmp(mode, "drop") == 0 || strcmp(mode, "reject") == 0; }

/* Node `n`'s entry in AETHER_PEERS ("10.77.0.1:7000,10.77.0.2:7000,...") and the colon in it. */
static inline const char* peer_entry(int n, const char** colon) {
    const char* entry = getenv("AETHER_PEERS");
    CHECK(entry != NULL);
    for (int i = 0; i < n; ++i) {
        entry = strchr(entry, ',');
        CHECK(entry != NULL);
        ++entry;
    }
    *colon = strchr(entry, ':');
    CHECK(*colon != NULL);
    return entry;
}

/* The host of node `n`. */
static inline const char* node_host(int n) {
    static char host[64];
    const char* colon;
    const char* entry = peer_entry(n, &colon);
    CHECK((size_t)(colon - entry) < sizeof host);
    memcpy(host, entry, (size_t)(colon - entry));
    host[colon - entry] = '\0';
    return host;
}

/* The port of node `n`. */
static inline int node_port(int n) {
    const char* colon;
    (void)peer_entry(n, &colon);
    return atoi(colon + 1);
}

/* Adds `in` to the chain `in` (hook input) and `out` to the chain `out` (hook output) of this
 * host's table aether_cut, in one nft transaction (NULL: no rule there). nft merges into a table
 * and chains that exist, so a cut can grow. */
static inline void cut_rules(const char* in, const char* out) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "nft -f - <<'END'\n"
             "table inet aether_cut {\n"
             "%s%s%s%s%s%s"
             "}\nEND\n",
             in ? "  chain in { type filter hook input priority 0; policy accept; " : "", in ? in : "", in ? "; }\n" : "",
             out ? "  chain out { type filter hook output priority 0; policy accept; " : "", out ? out : "", out ? "; }\n" : "");
    CHECK(system(cmd) == 0);
}

/* One direction of one pair cut: what `host` sends to this host's listening `port` (its requests to
 * this node, and the acknowledgements of this node's answers to them) vanishes, while this node's
 * own requests to `host` and their answers pass. */
static inline void cut_requests_from(const char* host, int port) {
    char rule[256];
    snprintf(rule, sizeof rule, "ip saddr %s tcp dport %d drop", host, port);
    cut_rules(rule, NULL);
}

static inline void cut_from(const char* host, const char* mode) {
    char in[256], out[256];
    if (strcmp(mode, "drop") == 0) {
        snprintf(in, sizeof in, "ip saddr %s drop", host);
        snprintf(out, sizeof out, "ip daddr %s drop", host);
    } else {
        snprintf(in, sizeof in, "ip saddr %s meta l4proto tcp reject with tcp reset", host);
        snprintf(out, sizeof out, "ip daddr %s reject with icmpx type host-unreachable", host);
    }
    cut_rules(in, out);
}

/* The answers this node gives on `host`'s connections to this node's listening `port` vanish (and
 * so do this node's acknowledgements of what `host` sends there): `host`'s requests arrive and are
 * served, their answers stall in TCP retransmission. Then reset_requests_from() can close those
 * connections at `host` with the answers still unsent (its resets are let through). */
static inline void cut_answers_to(const char* host, int port) {
    char rule[256];
    snprintf(rule, sizeof rule, "ip daddr %s tcp sport %d tcp flags & rst == 0 drop", host, port);
    cut_rules(NULL, rule);
}

/* Added to a cut_answers_to() cut: what `host` sends to this node's `port` (its retransmissions,
 * its next requests) is answered with a TCP reset, which closes its connections there. */
static inline void reset_requests_from(const char* host, int port) {
    char rule[256];
    snprintf(rule, sizeof rule, "ip saddr %s tcp dport %d counter reject with tcp reset", host, port);
    cut_rules(rule, NULL);
}

/* How many resets reset_requests_from() has sent. */
static inline long resets_sent(void) {
    FILE* f = popen("nft list chain inet aether_cut in", "r");
    CHECK(f != NULL);
    char line[512];
    long packets = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char* c = strstr(line, "counter packets ");
        if (c != NULL) packets = atol(c + strlen("counter packets "));
    }
    pclose(f);
    return packets;
}

static inline void heal(void) { CHECK(system("nft delete table inet aether_cut") == 0); }

#endif
