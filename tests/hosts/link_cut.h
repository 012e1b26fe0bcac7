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

/* One direction of one pair cut: what `host` sends to this host's listening `port` (its requests to
 * this node, and the acknowledgements of this node's answers to them) vanishes, while this node's
 * own requests to `host` and their answers pass. */
static inline void cut_requests_from(const char* host, int port) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "nft -f - <<'END'\n"
             "table inet aether_cut {\n"
             "  chain in { type filter hook input priority 0; policy accept; ip saddr %s tcp dport %d drop; }\n"
             "}\nEND\n",
             host, port);
    CHECK(system(cmd) == 0);
}

static inline void cut_from(const char* host, const char* mode) {
    char cmd[1024];
    if (strcmp(mode, "drop") == 0)
        snprintf(cmd, sizeof cmd,
                 "nft -f - <<'END'\n"
                 "table inet aether_cut {\n"
                 "  chain in { type filter hook input priority 0; policy accept; ip saddr %s drop; }\n"
                 "  chain out { type filter hook output priority 0; policy accept; ip daddr %s drop; }\n"
                 "}\nEND\n",
                 host, host);
    else
        snprintf(cmd, sizeof cmd,
                 "nft -f - <<'END'\n"
                 "table inet aether_cut {\n"
                 "  chain in { type filter hook input priority 0; policy accept; ip saddr %s meta l4proto tcp reject with tcp "
                 "reset; }\n"
                 "  chain out { type filter hook output priority 0; policy accept; ip daddr %s reject with icmpx type "
                 "host-unreachable; }\n"
                 "}\nEND\n",
                 host, host);
    CHECK(system(cmd) == 0);
}

static inline void heal(void) { CHECK(system("nft delete table inet aether_cut") == 0); }

#endif
