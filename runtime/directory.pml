/*
 * A Promela model of the coherence protocol as it is implemented: the home's per-page state
 * machine (runtime/directory.cpp) and the service around it (runtime/node.cpp), the copies
 * (runtime/cache.cpp), and a requester's fault (runtime/fault_resolver.cpp, runtime/runtime.cpp:
 * ask the home, install the grant, ask again after a stale one). docs/protocol.md, "The model",
 * says which part models which function, what is abstracted or left out, and how to run the
 * checks (tests/model/check_model.sh).
 *
 * Three nodes and two pages. Node 0 is the home of both pages: the `home` process is its service
 * thread (node::serve, serve_here, apply_ack, complete, drain, finish, calling directory::admit,
 * targets, on_answer, share, make_exclusive, record_write, accept_putback), and its own copies
 * are invalidated inline under the page lock (node::invalidate_self), as the code does. Every
 * node has an application thread (`app`: loads, stores, explicit writes, flushes and drops of one
 * page at a time); nodes 1 and 2 have a service thread (`svc`) answering the home's invalidations
 * (invalidation_service::on_invalidate -> cache::invalidate). Node 2 may crash.
 *
 * Messages can be lost (a budget of LOSSES per run: a request, a reply, an invalidation or an
 * acknowledgement, one that carries an owner's bytes included), and a requester may give up at
 * its deadline at any moment it waits (TIMEOUT -> VOID), its request perhaps still queued at the
 * home and served later.
 *
 * Properties (checked by tests/model/check_model.sh):
 *  - `monitor`: at every step, per page, at most one writable copy or any number of readable
 *    ones (SWMR), and every readable copy at a live node holds the last completed write of the
 *    page (the data-value invariant); every load also checks the value it reads.
 *  - a page is declared lost (directory::owner_gave_up) only after an acknowledgement carrying
 *    its bytes really was lost: never while those bytes were on their way or dropped by the home.
 *  - no invalid end state (deadlock), and at the end the home is idle: no round in flight, no
 *    request left queued (`init`).
 *  - with -DLIVENESS, the `answered` LTL property: every request is eventually answered or
 *    VOID. There a requester gives up only on a message that was really lost, so the property
 *    says the home never leaves a request hanging (a round that never completes, a queue that
 *    is never drained).
 *
 * Switches (spin -D...):
 *  OPS0, OPS1, OPS2   accesses each node's application thread makes (default 1 each)
 *  KINDS0.., PAGES0.. which kinds of access (bits: LOAD..DROP) and pages (bits) each node uses
 *  LOSSES             how many messages a run may lose (1)
 *  GIVEUPS            deadlines that pass while an answer is still to come (1)
 *  MAXSTALE           stale grants an access asks again after (1)
 *  NO_CRASH           node 2 does not crash
 *  REORDER            a node's requests sent on different connections may arrive in any order
 *  LIVENESS           timeouts only on lost messages, and the `answered` property
 *  LATE_DEADLINE      the home's deadline for an invalidation may pass while the invalidation
 *                     is still on its way or being answered: invalidations and answers arrive
 *                     after their round ended (checked: tests/model/check_model.sh late_deadline)
 *  BUG_GRANT_BEFORE_ACKS, BUG_IGNORE_EPOCH, BUG_IGNORE_GIVEN_UP, BUG_DROP_LATE_OWNER_ANSWER,
 *  BUG_STALE_INVALIDATION
 *                     injected bugs the checks must catch (the last two with LATE_DEADLINE)
 */

#ifndef OPS0
#define OPS0 1
#endif
#ifndef OPS1
#define OPS1 1
#endif
#ifndef OPS2
#define OPS2 1
#endif
#ifndef LOSSES
#define LOSSES 1
#endif
/* What each node's application thread may do (a bit per kind of access, see LOAD..DROP) and to
 * which pages (bit 0: page 0, bit 1: page 1). */
#ifndef KINDS0
#define KINDS0 31
#endif
#ifndef KINDS1
#define KINDS1 31
#endif
#ifndef KINDS2
#define KINDS2 31
#endif
#ifndef PAGES0
#define PAGES0 3
#endif
#ifndef PAGES1
#define PAGES1 3
#endif
#ifndef PAGES2
#define PAGES2 3
#endif
#define KINDS(n) ((n) == 0 -> KINDS0 : ((n) == 1 -> KINDS1 : KINDS2))
#define OPS_OF(n) ((n) == 0 -> OPS0 : ((n) == 1 -> OPS1 : OPS2))
/* The two pages are alike (same home, same start), so a run and the run with the pages swapped
 * check the same things: the first access of one node (the first node that makes any) is made to
 * page 0, which halves the states without losing a case. Its later accesses, and the other
 * nodes', go to either page. */
#if OPS0 > 0
#define SYMNODE 0
#elif OPS1 > 0
#define SYMNODE 1
#else
#define SYMNODE 2
#endif
#define PAGES(n) ((n) == 0 -> PAGES0 : ((n) == 1 -> PAGES1 : PAGES2))
#ifndef GIVEUPS
#define GIVEUPS 1   /* deadlines that pass while the answer is still to come, per run */
#endif
#ifndef MAXSTALE
#define MAXSTALE 1  /* stale grants an access asks again after before its deadline passes */
#endif

#define NN 3        /* nodes */
#define SEQS 3      /* request sequence numbers 1..SEQS, reused: see the send in app */
#define NP 2        /* pages, both homed at node 0 */
#define HOMENODE 0
#define VICTIM 2    /* the node that may crash */
#define NONE 255    /* no_node */
#define C(n, p) ((n) * NP + (p))
#define BIT(n) (1 << (n))

/* cache_state (runtime/cache.hpp) */
#define INV 0       /* invalid */
#define SH 1        /* shared */
#define EX 2        /* exclusive */
#define FZ 3        /* frozen: exclusive, write-protected, its bytes on the way home */
#define VD 4        /* void_copy: the 0xFF page of a failed load */
#define READABLE(s) ((s) == SH || (s) == EX || (s) == FZ)

/* dir_state (runtime/home.hpp) */
#define UNOWNED 0
#define SHARED 1
#define EXCL 2
#define LOST 3

/* What the home answers (status of a reply). */
#define R_OK 0
#define R_TIMEOUT 1 /* a round failed: a node did not answer in time */
#define R_LOST 2    /* the page is lost: VOID (NODE_CRASHED) */

/* How an invalidation call ended at the home (node::apply_ack's ok / failure reason). */
#define A_OK 0
#define A_CRASHED 1
#define A_TIMEOUT 2

/* Requests (wire::msg): read_shared, read_exclusive, write_bytes, putback. */
mtype = { RS, RX, WB, PB };

/* What an application thread does next. */
#define LOAD 0
#define STORE 1
#define WRITE 2     /* runtime::write: write_bytes at the home */
#define FLUSH 3     /* write_back_copy(keep_shared = true) */
#define DROP 4      /* write_back_copy(keep_shared = false) */

/* ---- state ----------------------------------------------------------------------------------- */

/* The home's directory entry of each page (home_page). */
byte st[NP];        /* dir_state */
bit busy[NP];       /* an invalidation round is in flight; requests queue in waitq */
byte owner[NP];
byte epoch[NP];
byte shr[NP];       /* sharers, one bit per node */
byte hval[NP];      /* the home's bytes (a value stands for the page's contents) */
/* Which grant the exclusive owner holds: its epoch (0 with no owner). The code names it by the
 * page's generation, which no event changes while the owner holds that grant; the model, which
 * has no generations, by the grant's epoch, which nothing changes either. */
byte oep[NP];

/* The round in flight (node::transaction), per page. */
mtype top[NP];      /* its request */
byte treq[NP];
byte tseq[NP];
byte targ[NP];
bit tws[NP];        /* requester_was_sharer */
bit tdg[NP];        /* the targets are downgraded (read_shared recalling the owner) */
bit tfail[NP];      /* failure_: a target timed out */
byte tep[NP];       /* the round's epoch: an answer to an older call is a late reply */
byte pend[NP];      /* targets not answered yet, one bit per node */
byte lostc[NP];     /* targets whose invalidation or acknowledgement was lost */
byte towner[NP];    /* the exclusive owner the round recalls, whose answer it waits for (0: none) */
bit tans[NP];       /* the requester was answered (VOID) while the owner's answer was awaited */

/* Each node's copy of each page (cache_page). */
byte cst[NN * NP];  /* cache_state */
byte cval[NN * NP]; /* the copy's bytes (0 when it has none) */
byte iep[NN * NP];  /* inval_epoch: the highest invalidation epoch handled */
byte gep[NN * NP];  /* grant_epoch: the epoch of the grant the copy came with (0: none) */
/* cache::given_up_: which exclusive grant (its epoch; 0: none) the node last gave up the bytes of
 * in an answer to a recall. The answer may never reach the home; this says so in every later
 * answer and request, so that the home never takes its own older bytes for the page's. */
byte gvn[NN * NP];

/* Ghost state for the properties. */
byte last[NP];      /* the value of the last completed write of each page */
byte nextv[NP];     /* every write stores a fresh value */
bit waiting[NN];    /* the application thread waits for an answer from the home */
byte cur[NN];       /* sequence number of the request it waits for (0: none): its connection */
bit lostmsg[NN];    /* its request or the reply to it was lost */
byte lossleft = LOSSES;
byte giveups = GIVEUPS;
bit crashed;
bit done[NN];       /* the node's application thread finished (or the node crashed) */
#define ALL_DONE (done[0] && done[1] && done[2])

/* Transport. A connection is FIFO; the home serves requests from different nodes in any order. */
chan req[NN] = [4] of { byte, mtype, byte, byte, byte }; /* seq, op, page, arg, given up */
chan rep[NN] = [1] of { byte, byte, byte, byte, bit }; /* seq, status, epoch, value, flag */
/* Invalidations and their acknowledgements, for nodes 1 and 2 (node 0's own copies are
 * invalidated inline). */
chan inv[NN - 1] = [3] of { byte, byte, bit };       /* page, epoch, downgrade */
chan ack[NN - 1] = [3] of { byte, byte, bit, byte, byte }; /* page, epoch, has_data, value, given up */
#define INVQ(n) inv[(n) - 1]
#define ACKQ(n) ack[(n) - 1]
chan waitq[NP] = [4] of { byte, byte, mtype, byte, byte }; /* node::waiting_: requester, seq, op, arg, given up */

/* ---- the invariants -------------------------------------------------------------------------- */

#define WRITERS(p) ((cst[C(0, p)] == EX) + (cst[C(1, p)] == EX) + (cst[C(2, p)] == EX))
#define READERS(p) (READABLE(cst[C(0, p)]) + READABLE(cst[C(1, p)]) + READABLE(cst[C(2, p)]))
/* One writer and no other copy, or only readers. A crashed node's copies are gone with it. */
#define SWMR(p) (WRITERS(p) == 0 || (WRITERS(p) == 1 && READERS(p) == 1))
#define CURRENT(n, p) (!READABLE(cst[C(n, p)]) || cval[C(n, p)] == last[p])
#define DATA_VALUE(p) (CURRENT(0, p) && CURRENT(1, p) && CURRENT(2, p))

/* Checked in every state: a guard becomes executable in the first state that breaks its
 * property. (The flags only name the property in pan's report.) */
bit single_writer_broken, stale_copy_readable, stale_read;
/* A page is declared lost only when its current bytes really are gone: an acknowledgement that
 * carried them was lost (the node crashing is the other way, not through GAVE_UP_CURRENT). Set by
 * the step that loses it; checked where GAVE_UP_CURRENT declares a page lost. */
bit data_ack_lost, lost_while_bytes_live;
active proctype monitor()
{
end:
    do
    :: atomic { !(SWMR(0) && SWMR(1)) -> single_writer_broken = 1; assert(!single_writer_broken) }
    :: atomic { !(DATA_VALUE(0) && DATA_VALUE(1)) -> stale_copy_readable = 1; assert(!stale_copy_readable) }
    od
}

/* ---- the requester's cache (runtime/cache.cpp) ----------------------------------------------- */

/* inval_epoch is compared only with the epoch of an answer to the request in flight, and every
 * invalidation handled before that request was sent is older than any epoch the home can answer
 * it with (the home's epoch only grows, and every grant takes a new one). So it is kept only while
 * the node waits for an answer, and cleared when it sends a request: the same comparisons, and
 * fewer states that differ only in an epoch nothing will read. */
#define RECORD_EPOCH(n, pg, ep) \
    if \
    :: cur[n] != 0 && ep > iep[C(n, pg)] -> iep[C(n, pg)] = ep \
    :: else \
    fi

/* cache::invalidate: an invalidation (or a recall, or a downgrade) from the home. Returns the
 * copy's bytes in hd/v when it was exclusive or frozen. An invalidation older than the copy's
 * grant was sent before the copy existed: a message held back (by TCP, across a cut) until after
 * its round ended and the page was granted again. It leaves the copy alone (cache::invalidation::
 * stale); BUG_STALE_INVALIDATION takes the copy anyway, as the code did before. */
#ifdef BUG_STALE_INVALIDATION
#define STALE_INVALIDATION(n, pg, ep) false
#else
#define STALE_INVALIDATION(n, pg, ep) ((ep) < gep[C(n, pg)])
#endif
inline cache_invalidate(n, pg, ep, dg, hd, v, gv)
{
    hd = 0;
    v = 0;
    RECORD_EPOCH(n, pg, ep);
    if
    :: cst[C(n, pg)] == INV -> skip
    :: cst[C(n, pg)] != INV && STALE_INVALIDATION(n, pg, ep) ->
        skip /* sent before the copy was granted (its round is over): the copy stays */
    :: cst[C(n, pg)] != INV && !STALE_INVALIDATION(n, pg, ep) ->
        if
        :: cst[C(n, pg)] == EX || cst[C(n, pg)] == FZ ->
            hd = 1; v = cval[C(n, pg)]; gvn[C(n, pg)] = gep[C(n, pg)] /* given up (cache::given_up_) */
        :: else
        fi;
        if
        :: dg && cst[C(n, pg)] != VD -> cst[C(n, pg)] = SH
        :: else -> cst[C(n, pg)] = INV; cval[C(n, pg)] = 0; gep[C(n, pg)] = 0
        fi
    fi;
    gv = gvn[C(n, pg)]
}

/* ---- the home (runtime/node.cpp around runtime/directory.cpp) -------------------------------- */

/* Scratch of the home's step (hidden: not part of the state; each step sets what it reads). */
hidden byte h_n, h_sq, h_pg, h_arg, h_ep, h_v, h_tg, h_m, h_s, h_ev;
hidden mtype h_op;
hidden byte h_dg, h_ws, h_hd, h_excl, h_self, h_gv;
hidden byte f_do, f_n, f_sq, f_arg, f_ws;  /* node::finish is due for this request */
hidden mtype f_op;
hidden byte q_do, q_n, q_sq, q_st, q_ep, q_v, q_f; /* a reply is due */

/* Answers request `sq` of node n, if it still waits for it: a requester that gave up closed the
 * connection, and a late reply goes nowhere. A remote reply may be lost. (Expanded once: the
 * home's step sets r_* and replies at its end.) */
inline reply(n, sq, status, ep, v, f)
{
    if
    :: cur[n] == sq ->
        if
        :: n != HOMENODE && lossleft > 0 -> lossleft--; lostmsg[n] = 1
        :: true -> assert(nfull(rep[n])); rep[n]!sq, status, ep, v, f
        fi
    :: else -> skip
    fi
}
#define REPLY(n, sq, status, ep, v, f) \
    q_do = 1; q_n = n; q_sq = sq; q_st = status; q_ep = ep; q_v = v; q_f = f

/* directory::settle (run at the end of directory::on_answer and directory::forget) */
inline settle(pg)
{
    if
    :: st[pg] == EXCL && owner[pg] == NONE -> st[pg] = UNOWNED
    :: else
    fi;
    if
    :: st[pg] != EXCL && st[pg] != LOST ->
        if
        :: shr[pg] != 0 -> st[pg] = SHARED
        :: else -> st[pg] = UNOWNED
        fi
    :: else
    fi
}

/* directory::gave_up_current: node m, the exclusive owner, no longer holds its grant because it
 * gave up that grant's bytes in an answer to a recall, and the home never got that answer (it
 * would have taken the bytes and cleared the owner). The home's bytes are older than the page's:
 * the page is lost (the other way a node's answer is, the connection-loss window). BUG_IGNORE_GIVEN_UP
 * is the code before: the home takes the owner's empty answer, or its request, as "it never wrote",
 * and serves its older bytes. */
#ifdef BUG_IGNORE_GIVEN_UP
#define GAVE_UP_CURRENT(pg, m, gv) false
#else
#define GAVE_UP_CURRENT(pg, m, gv) (st[pg] == EXCL && owner[pg] == (m) && (gv) != 0 && (gv) == oep[pg])
#endif

/* node::apply_ack -> directory::on_answer (discard is always false: free is not modelled, and
 * so the generation counter is not either: the values stand for it). */
inline apply_ack(m, pg, how, hd, v, dg, gv)
{
    if
    :: how == A_OK ->
        if
        :: hd && owner[pg] == m -> hval[pg] = v /* take_page: the exclusive copy comes home */
        :: !hd && GAVE_UP_CURRENT(pg, m, gv) ->
            st[pg] = LOST; /* its bytes went in an answer this home never got: VOID, never stale */
            lost_while_bytes_live = !data_ack_lost; assert(!lost_while_bytes_live)
        :: else
        fi;
        if
        :: owner[pg] == m -> owner[pg] = NONE; oep[pg] = 0
        :: else
        fi;
        if
        :: dg -> shr[pg] = shr[pg] | BIT(m)
        :: else -> shr[pg] = shr[pg] & ~BIT(m)
        fi;
        settle(pg)
    :: how == A_CRASHED ->
        /* answer::fenced: the crashed node's lease has run out (the model takes it as run out at
         * once: a crashed node uses no copy). A sharer is forgotten and the request goes on; the
         * owner's bytes are the only current ones, so the page waits for it and the request
         * fails (never lost while the owner may live; the code's forget() on a restart is not
         * modelled). */
        if
        :: owner[pg] == m -> tfail[pg] = 1
        :: else -> shr[pg] = shr[pg] & ~BIT(m); settle(pg)
        fi
    :: how == A_TIMEOUT ->
        /* fails_with: the node may still hold its copy; it stays recorded, the request fails. */
        tfail[pg] = 1
    fi
}

/* directory::targets: the nodes that must act first (h_tg, one bit each) and whether they
 * downgrade (h_dg). */
inline targets(n, op, pg)
{
    h_tg = 0;
    h_dg = 0;
    h_excl = (st[pg] == EXCL && owner[pg] != NONE);
    if
    :: op == RS ->
        if
        :: h_excl && owner[pg] != n -> h_tg = BIT(owner[pg]); h_dg = 1
        :: else
        fi
    :: op == RX ->
        h_tg = shr[pg] & ~BIT(n);
        if
        :: h_excl && owner[pg] != n -> h_tg = h_tg | BIT(owner[pg])
        :: else
        fi
    :: op == WB -> /* every copy goes, the requester's own included */
        h_tg = shr[pg];
        if
        :: h_excl -> h_tg = h_tg | BIT(owner[pg])
        :: else
        fi
    :: op == PB -> skip
    fi
}

/* node::finish: the request completes (the page lock is held, no round in flight), with
 * directory::share, make_exclusive, record_write or accept_putback. Sets the reply. */
inline finish(n, sq, op, pg, arg, ws)
{
    if
    :: op == RS -> /* directory::share */
        if
        :: st[pg] == EXCL && owner[pg] == n -> owner[pg] = NONE; oep[pg] = 0 /* it discarded its grant as stale */
        :: else
        fi;
        shr[pg] = shr[pg] | BIT(n);
        st[pg] = SHARED;
        epoch[pg]++;
        REPLY(n, sq, R_OK, epoch[pg], hval[pg], 0)
    :: op == RX -> /* directory::make_exclusive */
        shr[pg] = 0;
        st[pg] = EXCL;
        owner[pg] = n;
        epoch[pg]++;
        oep[pg] = epoch[pg];
        if
        :: ws && !arg -> REPLY(n, sq, R_OK, epoch[pg], 0, 1) /* is_sharer: its copy is current */
        :: else -> REPLY(n, sq, R_OK, epoch[pg], hval[pg], 0)
        fi
    :: op == WB -> /* the bytes change at the home, directory::record_write */
        hval[pg] = arg;
        last[pg] = arg; /* the write completes here */
        epoch[pg]++;
        REPLY(n, sq, R_OK, 0, 0, 0)
    :: op == PB -> /* directory::accept_putback */
        if
        :: st[pg] == EXCL && owner[pg] == n ->
            hval[pg] = arg;
            owner[pg] = NONE;
            oep[pg] = 0;
            shr[pg] = BIT(n); /* recorded as a sharer whether it keeps a copy or not */
            st[pg] = SHARED;
            epoch[pg]++;
            REPLY(n, sq, R_OK, epoch[pg], 0, 1) /* applied */
        :: else -> REPLY(n, sq, R_OK, 0, 0, 0)   /* not applied */
        fi
    fi
}

/* Sends the round's invalidation to node m (loop_.call in node::serve), or loses it. */
inline send_invalidation(m, pg)
{
    if
    :: (pend[pg] & BIT(m)) && crashed && m == VICTIM -> skip /* refused: ON_CRASHED ends the call */
    :: (pend[pg] & BIT(m)) && !(crashed && m == VICTIM) ->
        if
        :: lossleft > 0 -> lossleft--; lostc[pg] = lostc[pg] | BIT(m)
        :: true -> assert(nfull(INVQ(m))); INVQ(m)!pg, tep[pg], tdg[pg]
        fi
    :: else
    fi
}

/* The round completes when its last call ended (the call's callback in node::serve). */
#ifdef BUG_GRANT_BEFORE_ACKS
/* Injected bug: the round completes with one acknowledgement still out (with one target: at
 * once, right when it starts). */
#define ROUND_DONE(pg) (busy[pg] && (pend[pg] & (pend[pg] - 1)) == 0)
#else
#define ROUND_DONE(pg) (busy[pg] && pend[pg] == 0)
#endif

#ifdef LATE_DEADLINE
#define CALL_DEADLINE(pg, m) true
#else
#define CALL_DEADLINE(pg, m) (lostc[pg] & BIT(m))
#endif

/* The exclusive owner's answer to a recall carries the only current bytes. At the request's
 * deadline the home answers the requester VOID but keeps the round, and the entry, until that
 * answer comes (node::answer_early, owner_answer_wait_ns): the call to the owner ends without an
 * answer only when a message of it was really lost (the model's stand-in for the connection
 * failing, or the long wait passing). BUG_DROP_LATE_OWNER_ANSWER restores what the code did before:
 * the owner's call ends at the request's deadline like any other, and its late answer is dropped. */
#ifdef BUG_DROP_LATE_OWNER_ANSWER
#define WAITS_FOR_OWNER(pg, m) false
#else
#define WAITS_FOR_OWNER(pg, m) (towner[pg] == (m))
#endif

/* Events of the home's service thread. */
#define EV_REQUEST 1  /* a request arrives (or is taken from the page's queue: node::drain) */
#define EV_ACK 2      /* an acknowledgement arrives */
#define EV_CALL_FAILED 3 /* a call ends without one: its deadline (TIMEOUT), or NODE_CRASHED */
#define EV_EARLY 4    /* the request's deadline while the owner's answer is awaited: VOID now */

/* A request arrives from node n. */
#ifndef REORDER
#define ON_REQUEST(n) \
    :: req[n]?h_sq, h_op, h_pg, h_arg, h_gv -> h_n = n; h_ev = EV_REQUEST
#else
/* Requests of one node that were sent on different connections (a request whose requester gave
 * up, and the ones it sent after) may arrive in any order. */
#define ON_REQUEST_SEQ(n, k) \
    :: req[n]??eval(k), h_op, h_pg, h_arg, h_gv -> h_sq = k; h_n = n; h_ev = EV_REQUEST
#define ON_REQUEST(n) ON_REQUEST_SEQ(n, 1) ON_REQUEST_SEQ(n, 2) ON_REQUEST_SEQ(n, 3)
#endif

/* An acknowledgement from node m. */
#define ON_ACK(m) \
    :: ACKQ(m)?h_pg, h_ep, h_hd, h_v, h_gv -> h_m = m; h_ev = EV_ACK

/* The deadline of the call to node m passes (home_deadline); for the owner, the request's
 * deadline (answered early) and, only for a lost message, the end of the long wait. */
#define ON_DEADLINE(pg, m) \
    :: busy[pg] && (pend[pg] & BIT(m)) && CALL_DEADLINE(pg, m) && !WAITS_FOR_OWNER(pg, m) -> \
        h_pg = pg; h_m = m; h_s = A_TIMEOUT; h_ev = EV_CALL_FAILED \
    :: busy[pg] && (pend[pg] & BIT(m)) && CALL_DEADLINE(pg, m) && WAITS_FOR_OWNER(pg, m) && !tans[pg] -> \
        h_pg = pg; h_ev = EV_EARLY \
    :: busy[pg] && (pend[pg] & BIT(m)) && (lostc[pg] & BIT(m)) && WAITS_FOR_OWNER(pg, m) -> \
        h_pg = pg; h_m = m; h_s = A_TIMEOUT; h_ev = EV_CALL_FAILED

/* The call to the crashed node fails: its connection is refused or reset (NODE_CRASHED). */
#define ON_CRASHED(pg) \
    :: crashed && busy[pg] && (pend[pg] & BIT(VICTIM)) -> \
        h_pg = pg; h_m = VICTIM; h_s = A_CRASHED; h_ev = EV_CALL_FAILED

/* The home's service thread. Each event is one atomic step: the service thread runs one task at
 * a time, and the page lock makes node 0's own inline requests (try_serve_inline) atomic too.
 * One body handles every event, and every part of it (serve, apply_ack, complete, finish, reply)
 * is written once: the step runs them in order, each deciding what the next one does, and loops
 * back for each request node::drain takes from the page's queue after a round completed. */
proctype home()
{
end:
    do
    :: atomic {
        if
        ON_REQUEST(0)
        ON_REQUEST(1)
        ON_REQUEST(2)
        ON_ACK(1)
        ON_ACK(2)
        ON_DEADLINE(0, 1)
        ON_DEADLINE(0, 2)
        ON_DEADLINE(1, 1)
        ON_DEADLINE(1, 2)
        ON_CRASHED(0)
        ON_CRASHED(1)
        fi;
        do
        :: f_do = 0; q_do = 0; h_self = 0;
            /* node::serve, first half: queue behind a round, directory::admit, directory::targets,
             * and the home's own copy goes at once, under the lock (node::invalidate_self). */
            if
            :: h_ev == EV_REQUEST && busy[h_pg] ->
                assert(nfull(waitq[h_pg])); waitq[h_pg]!h_n, h_sq, h_op, h_arg, h_gv; h_ev = 0
            :: h_ev == EV_REQUEST && !busy[h_pg] && (h_op == RS || h_op == RX) && GAVE_UP_CURRENT(h_pg, h_n, h_gv) ->
                /* directory::admit: the owner asks again for the page whose bytes it gave up */
                st[h_pg] = LOST; owner[h_pg] = NONE; oep[h_pg] = 0;
                lost_while_bytes_live = !data_ack_lost; assert(!lost_while_bytes_live);
                REPLY(h_n, h_sq, R_LOST, 0, 0, 0); h_ev = 0
            :: h_ev == EV_REQUEST && !busy[h_pg] && !((h_op == RS || h_op == RX) && GAVE_UP_CURRENT(h_pg, h_n, h_gv)) &&
               st[h_pg] == LOST && h_op != PB ->
                REPLY(h_n, h_sq, R_LOST, 0, 0, 0); h_ev = 0 /* admit: lost_page */
            :: h_ev == EV_REQUEST && !busy[h_pg] && !((h_op == RS || h_op == RX) && GAVE_UP_CURRENT(h_pg, h_n, h_gv)) &&
               !(st[h_pg] == LOST && h_op != PB) ->
                targets(h_n, h_op, h_pg);
                h_ws = ((shr[h_pg] & BIT(h_n)) != 0);
                if
                :: h_tg != 0 -> /* a new epoch when anyone must act */
                    epoch[h_pg]++;
                    if
                    :: h_tg & BIT(HOMENODE) ->
                        cache_invalidate(HOMENODE, h_pg, epoch[h_pg], h_dg, h_hd, h_v, h_gv);
                        h_self = 1; h_m = HOMENODE; h_s = A_OK
                    :: else
                    fi
                :: else
                fi
            :: h_ev == EV_ACK ->
                if
                :: busy[h_pg] && tep[h_pg] == h_ep && (pend[h_pg] & BIT(h_m)) -> h_s = A_OK
                :: else -> h_s = 255 /* a late reply to a call that already ended: dropped */
                fi
            :: h_ev == EV_CALL_FAILED -> h_hd = 0; h_v = 0
            :: h_ev == EV_EARLY -> /* node::answer_early: what the requester would have heard */
                tans[h_pg] = 1; REPLY(treq[h_pg], tseq[h_pg], R_TIMEOUT, 0, 0, 0)
            :: h_ev == 0 -> skip
            fi;
            /* node::apply_ack: the home's own answer, or a remote one. */
            if
            :: h_self ->
                apply_ack(h_m, h_pg, h_s, h_hd, h_v, h_dg, h_gv)
            :: !h_self && (h_ev == EV_ACK || h_ev == EV_CALL_FAILED) && h_s != 255 ->
                apply_ack(h_m, h_pg, h_s, h_hd, h_v, tdg[h_pg], h_gv);
                pend[h_pg] = pend[h_pg] & ~BIT(h_m)
            :: else
            fi;
            /* node::serve, second half: serve_here when no other node must act, else a round. */
            if
            :: h_ev == EV_REQUEST && (h_tg & ~BIT(HOMENODE)) == 0 ->
                f_do = 1; f_n = h_n; f_sq = h_sq; f_op = h_op; f_arg = h_arg; f_ws = h_ws
            :: h_ev == EV_REQUEST && (h_tg & ~BIT(HOMENODE)) != 0 ->
                busy[h_pg] = 1;
                top[h_pg] = h_op;
                treq[h_pg] = h_n;
                tseq[h_pg] = h_sq;
                targ[h_pg] = h_arg;
                tws[h_pg] = h_ws;
                tdg[h_pg] = h_dg;
                tfail[h_pg] = 0;
                tep[h_pg] = epoch[h_pg];
                pend[h_pg] = h_tg & ~BIT(HOMENODE);
                lostc[h_pg] = 0;
                if
                :: h_excl && owner[h_pg] != HOMENODE && (h_tg & BIT(owner[h_pg])) -> towner[h_pg] = owner[h_pg]
                :: else -> towner[h_pg] = 0 /* the home's own copy goes inline: no call */
                fi;
                tans[h_pg] = 0;
                send_invalidation(1, h_pg);
                send_invalidation(2, h_pg)
            :: else
            fi;
            /* node::complete: the round's last call ended. */
            if
            :: ROUND_DONE(h_pg) ->
                if
                :: tans[h_pg] -> skip /* told at its deadline; the owner's late answer is applied, no more */
                :: !tans[h_pg] && tfail[h_pg] -> REPLY(treq[h_pg], tseq[h_pg], R_TIMEOUT, 0, 0, 0)
                :: !tans[h_pg] && !tfail[h_pg] && st[h_pg] == LOST -> REPLY(treq[h_pg], tseq[h_pg], R_LOST, 0, 0, 0)
                :: !tans[h_pg] && !tfail[h_pg] && st[h_pg] != LOST ->
                    f_do = 1; f_n = treq[h_pg]; f_sq = tseq[h_pg]; f_op = top[h_pg]; f_arg = targ[h_pg];
                    f_ws = tws[h_pg]
                fi;
                busy[h_pg] = 0;
                /* (cleared so that finished rounds leave no trace in the state) */
                top[h_pg] = RS; treq[h_pg] = 0; tseq[h_pg] = 0; targ[h_pg] = 0; tws[h_pg] = 0; tdg[h_pg] = 0;
                tfail[h_pg] = 0; tep[h_pg] = 0; pend[h_pg] = 0; lostc[h_pg] = 0; towner[h_pg] = 0; tans[h_pg] = 0
            :: else
            fi;
            if
            :: f_do -> finish(f_n, f_sq, f_op, h_pg, f_arg, f_ws)
            :: else
            fi;
            if
            :: q_do -> reply(q_n, q_sq, q_st, q_ep, q_v, q_f)
            :: else
            fi;
            /* node::drain: the queued requests are served in order while no round is in flight. */
            if
            :: !busy[h_pg] && nempty(waitq[h_pg]) ->
                waitq[h_pg]?h_n, h_sq, h_op, h_arg, h_gv; h_ev = EV_REQUEST
            :: busy[h_pg] || empty(waitq[h_pg]) -> break
            fi
        od;
        h_n = 0; h_sq = 0; h_pg = 0; h_arg = 0; h_ep = 0; h_v = 0; h_tg = 0; h_m = 0; h_s = 0;
        h_op = RS; h_dg = 0; h_ws = 0; h_hd = 0; h_excl = 0; h_ev = 0; h_self = 0; h_gv = 0 }
    od
}

/* ---- a node's service thread: invalidation_service::on_invalidate ---------------------------------------- */

/* Any acknowledgement may be lost, one that carries an owner's bytes too: the connection-loss
 * window (docs/protocol.md, "The model"), closed by directory::owner_gave_up (GAVE_UP_CURRENT). */
#define MAY_LOSE_ACK(hd) (lossleft > 0)

proctype svc(byte n)
{
    byte pg, ep, v, gv;
    bit dg, hd;
end:
    do
    :: atomic {
        INVQ(n)?pg, ep, dg ->
        cache_invalidate(n, pg, ep, dg, hd, v, gv);
        if
        :: MAY_LOSE_ACK(hd) ->
            lossleft--;
            if
            :: hd -> data_ack_lost = 1
            :: else
            fi;
            if
            :: busy[pg] && tep[pg] == ep && (pend[pg] & BIT(n)) -> lostc[pg] = lostc[pg] | BIT(n)
            :: else
            fi
        :: true -> assert(nfull(ACKQ(n))); ACKQ(n)!pg, ep, hd, v, gv
        fi;
        pg = 0; ep = 0; v = 0; dg = 0; hd = 0; gv = 0 }
    od
}

/* ---- a node's application thread: fault_resolver::resolve, runtime::acquire_page ------------ */

/* One step of the thread is one atomic block, from the answer it waited for to the next request
 * it sends (or the end of the access): what the thread does between two messages touches only
 * its own cache entry, under that entry's lock, so only the moments it waits are states other
 * processes can act in. An access starts in a step of its own, so an invalidation can come
 * between two accesses. Like the home, one body handles both kinds of step (an access starts,
 * an answer or a deadline arrives), and each part (acquire, send, the access) is written once. */

#ifdef LIVENESS
#define MAY_GIVE_UP lostmsg[n] /* a deadline passes only on a lost message */
#define GAVE_UP skip
#else
/* A deadline may pass at any moment (GIVEUPS times a run) or after a lost message. */
#define MAY_GIVE_UP (lostmsg[n] || giveups > 0)
#define GAVE_UP if :: !lostmsg[n] -> giveups-- :: else fi
#endif

#ifdef BUG_IGNORE_EPOCH
#define STALE(ep) false /* injected bug: a grant that crossed an invalidation is installed */
#else
#define STALE(ep) ((ep) < iep[C(n, pg)])
#endif

/* What the request in flight is for. */
#define S_UNSENT 1  /* acquire_page's send_unsent_home: a frozen copy's putback */
#define S_FETCH 2   /* acquire_page's read_shared / read_exclusive */
#define S_WRITE 3   /* runtime::write's write_bytes */
#define S_PUTBACK 4 /* write_back_copy's putback */

/* What the step does after deciding (hidden, shared by the threads: the steps are atomic and never block). */
hidden byte a_acq;   /* acquire_page from the top */
hidden byte a_fetch; /* acquire_page's request for the page */
hidden byte a_acc;   /* the access runs */
hidden byte a_send;  /* a request goes to the home */
hidden mtype a_op;
hidden byte a_arg;
hidden byte a_end;   /* 1: the access is over, 2: it failed (VOID) */

/* cache::finish_writeback */
inline finish_writeback(keep, ep)
{
    if
    :: cst[C(n, pg)] == FZ ->
        if
        :: keep && ep >= iep[C(n, pg)] -> cst[C(n, pg)] = SH; gep[C(n, pg)] = ep
        :: else -> cst[C(n, pg)] = INV; cval[C(n, pg)] = 0; gep[C(n, pg)] = 0
        fi
    :: else -> skip /* an invalidation took the copy meanwhile */
    fi
}

/* Node 2 stops at any moment while work goes on: its process is gone, its cache with it. Its
 * service thread answers nothing any more (the home's calls to it fail: ON_CRASHED). */
#ifdef NO_CRASH
#define MAY_CRASH false
#else
#define MAY_CRASH (n == VICTIM && !crashed && !ALL_DONE)
#endif
#define CRASH \
    crashed = 1; \
    done[VICTIM] = 1; \
    cst[C(VICTIM, 0)] = INV; cval[C(VICTIM, 0)] = 0; iep[C(VICTIM, 0)] = 0; gep[C(VICTIM, 0)] = 0; gvn[C(VICTIM, 0)] = 0; \
    cst[C(VICTIM, 1)] = INV; cval[C(VICTIM, 1)] = 0; iep[C(VICTIM, 1)] = 0; gep[C(VICTIM, 1)] = 0; gvn[C(VICTIM, 1)] = 0; \
    waiting[VICTIM] = 0; cur[VICTIM] = 0; lostmsg[VICTIM] = 0; \
    do \
    :: nempty(rep[VICTIM]) -> rep[VICTIM]?_, _, _, _, _ \
    :: nempty(INVQ(VICTIM)) -> INVQ(VICTIM)?_, _, _ \
    :: empty(rep[VICTIM]) && empty(INVQ(VICTIM)) -> break \
    od; \
    ops = 0; seq = 0; step = 0; pg = 0; what = 0; wv = 0; retries = 0

#define A_START 1
#define A_ANSWER 2

proctype app(byte n; byte ops)
{
    byte pg, what, seq, rs, r_ep, r_v, wv, retries, step, ev;
    bit r_f;
    do
    :: atomic {
        if
        :: step == 0 && ops > 0 -> /* an access starts */
            ops--;
            if
            :: PAGES(n) & 1 -> pg = 0
            :: (PAGES(n) & 2) && !(n == SYMNODE && ops == OPS_OF(n) - 1) -> pg = 1
            fi;
            if
            :: KINDS(n) & BIT(LOAD) -> what = LOAD
            :: KINDS(n) & BIT(STORE) -> what = STORE
            :: KINDS(n) & BIT(WRITE) -> what = WRITE
            :: KINDS(n) & BIT(FLUSH) -> what = FLUSH
            :: KINDS(n) & BIT(DROP) -> what = DROP
            fi;
            ev = A_START
        :: step != 0 && rep[n]?[eval(seq), _, _, _, _] -> /* runtime::ask_home: the answer */
            rep[n]?_, rs, r_ep, r_v, r_f; ev = A_ANSWER
        :: step != 0 && MAY_GIVE_UP -> /* the deadline: TIMEOUT, VOID */
            GAVE_UP;
            if
            :: nempty(rep[n]) -> rep[n]?_, _, _, _, _ /* the connection closes */
            :: empty(rep[n]) -> skip
            fi;
            rs = R_TIMEOUT; r_ep = 0; r_v = 0; r_f = 0; ev = A_ANSWER
        fi;
        a_acq = 0; a_fetch = 0; a_acc = 0; a_send = 0; a_end = 0;
        if
        :: ev == A_START ->
            if
            :: what == LOAD && READABLE(cst[C(n, pg)]) -> a_acc = 1; a_end = 1
            :: what == LOAD && cst[C(n, pg)] == VD -> a_end = 1 /* reads VOID */
            :: what == STORE && cst[C(n, pg)] == EX -> a_acc = 1; a_end = 1
            :: (what == LOAD && (cst[C(n, pg)] == INV)) || (what == STORE && cst[C(n, pg)] != EX) ->
                a_acq = 1 /* a fault: fault_resolver::resolve */
            :: what == WRITE -> step = S_WRITE; nextv[pg]++; wv = nextv[pg]; a_send = 1; a_op = WB; a_arg = wv
            :: what == FLUSH || what == DROP -> /* runtime::write_back_copy: cache::begin_drop */
                if
                :: cst[C(n, pg)] == EX ->
                    cst[C(n, pg)] = FZ; step = S_PUTBACK; wv = cval[C(n, pg)]; a_send = 1; a_op = PB; a_arg = wv
                :: (cst[C(n, pg)] == SH || cst[C(n, pg)] == VD) && what == DROP ->
                    cst[C(n, pg)] = INV; cval[C(n, pg)] = 0; gep[C(n, pg)] = 0; a_end = 1
                :: else -> a_end = 1
                fi
            fi
        :: ev == A_ANSWER ->
            waiting[n] = 0;
            cur[n] = 0;
            lostmsg[n] = 0;
            if
            :: step == S_UNSENT -> /* runtime::send_unsent_home, then the request for the page */
                if
                :: rs != R_OK -> a_end = 2
                :: else -> finish_writeback(r_f, r_ep); a_fetch = 1
                fi
            :: step == S_FETCH ->
                if
                :: rs != R_OK -> a_end = 2
                :: rs == R_OK && what == STORE && r_f -> /* is_sharer: cache::upgrade */
                    if
                    :: STALE(r_ep) || cst[C(n, pg)] != SH -> a_acq = 1 /* stale */
                    :: else -> cst[C(n, pg)] = EX; gep[C(n, pg)] = r_ep; a_acc = 1; a_end = 1
                    fi
                :: rs == R_OK && !(what == STORE && r_f) -> /* cache::install */
                    if
                    :: STALE(r_ep) -> a_acq = 1 /* stale */
                    :: else ->
                        if
                        :: what == STORE -> cst[C(n, pg)] = EX
                        :: else -> cst[C(n, pg)] = SH
                        fi;
                        cval[C(n, pg)] = r_v;
                        gep[C(n, pg)] = r_ep;
                        a_acc = 1;
                        a_end = 1
                    fi
                fi;
                if
                :: a_acq -> /* the grant crossed an invalidation */
                    if
                    :: retries < MAXSTALE -> retries++ /* ask again */
                    :: else -> a_acq = 0; a_end = 2 /* dl.expired(): TIMEOUT */
                    fi
                :: else
                fi
            :: step == S_WRITE -> a_end = 1
            :: step == S_PUTBACK ->
                if
                :: rs == R_OK -> finish_writeback(what == FLUSH && r_f, r_ep)
                :: else -> skip /* the copy stays frozen: still the only current one */
                fi;
                a_end = 1
            fi;
            rs = 0; r_ep = 0; r_v = 0; r_f = 0
        fi;
        ev = 0;
        /* runtime::acquire_page from the top: a frozen copy's bytes go home before anything is
         * asked (send_unsent_home, cache::copy_unsent). */
        if
        :: a_acq && cst[C(n, pg)] == FZ -> step = S_UNSENT; wv = cval[C(n, pg)]; a_send = 1; a_op = PB; a_arg = wv
        :: a_acq && cst[C(n, pg)] != FZ -> a_fetch = 1
        :: else
        fi;
        /* acquire_page: read_shared, or read_exclusive for a store (need_data unless it has a copy) */
        if
        :: a_fetch ->
            step = S_FETCH; a_send = 1;
            if
            :: what == STORE -> a_op = RX; a_arg = (cst[C(n, pg)] != SH)
            :: else -> a_op = RS; a_arg = 0
            fi
        :: else
        fi;
        /* The faulting access runs in the step that installs its copy: the hold window (handler
         * mode, invalidation_service::on_invalidate waits for it) or the SIGBUS handler itself (which runs
         * the access right after the install) lets it run before an invalidation takes the copy
         * again. The read checks the data-value invariant. */
        if
        :: a_acc && what == LOAD -> stale_read = (cval[C(n, pg)] != last[pg]); assert(!stale_read)
        :: a_acc && what == STORE -> nextv[pg]++; cval[C(n, pg)] = nextv[pg]; last[pg] = nextv[pg]
        :: else
        fi;
        /* runtime::ask_home, first half: sends the request (or loses it). The answer, or the
         * deadline, is the next step. */
        if
        :: a_send ->
            seq = seq % SEQS + 1;
            /* A sequence number stands for a connection: it must not be one still in use. */
            assert(!(req[n]??[eval(seq), _, _, _, _]) && !(waitq[0]??[eval(n), eval(seq), _, _, _]) &&
                   !(waitq[1]??[eval(n), eval(seq), _, _, _]) &&
                   !(busy[0] && treq[0] == n && tseq[0] == seq) && !(busy[1] && treq[1] == n && tseq[1] == seq));
            cur[n] = seq;
            waiting[n] = 1;
            iep[C(n, 0)] = 0; /* see RECORD_EPOCH */
            iep[C(n, 1)] = 0;
            if
            :: n != HOMENODE && lossleft > 0 -> lossleft--; lostmsg[n] = 1 /* the request is lost */
            :: true -> assert(nfull(req[n])); req[n]!seq, a_op, pg, a_arg, gvn[C(n, pg)]
            fi
        :: else
        fi;
        /* The access is over; a failed acquire_page makes a load read VOID (cache::install_void)
         * and a store raise SIGBUS. */
        if
        :: a_end == 2 && what == LOAD && cst[C(n, pg)] == INV -> cst[C(n, pg)] = VD
        :: else
        fi;
        if
        :: a_end != 0 ->
            step = 0; pg = 0; what = 0; wv = 0; retries = 0;
            iep[C(n, 0)] = 0; /* see RECORD_EPOCH */
            iep[C(n, 1)] = 0
        :: else
        fi;
        a_acq = 0; a_fetch = 0; a_acc = 0; a_send = 0; a_end = 0; a_arg = 0 }
    :: atomic { MAY_CRASH -> CRASH; break }
    :: atomic { step == 0 && ops == 0 -> done[n] = 1; break }
    od;
    /* Node 2 may also crash after its own accesses, while the others work on. */
end:
    atomic { MAY_CRASH -> CRASH }
}

#ifdef LIVENESS
ltl answered { [] ((waiting[0] -> <> !waiting[0]) && (waiting[1] -> <> !waiting[1]) &&
                   (waiting[2] -> <> !waiting[2])) }
#endif

bit home_not_idle;

init
{
    byte p;
    atomic {
        for (p : 0 .. NP - 1) {
            owner[p] = NONE
        }
        run home();
        run svc(1);
        run svc(2);
        run app(0, OPS0);
        run app(1, OPS1);
        run app(2, OPS2);
    }
    /* When every application thread is done and nothing can move any more, the home must be
     * idle: no round left in flight, no request left unserved. */
    ALL_DONE;
    timeout;
    home_not_idle = (busy[0] || busy[1] || nempty(waitq[0]) || nempty(waitq[1]) ||
                     nempty(req[0]) || nempty(req[1]) || nempty(req[2]));
    assert(!home_not_idle)
}
