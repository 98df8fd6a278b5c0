/*
 * tclient.h — a small blocking test client for the closeloop protocol.
 *
 * One TCP connection, frames packed and parsed with wire.h. Waiting is done
 * with poll(2) and a deadline; a "pump" callback may be set so a test that
 * runs the engine in the same thread (an in-process event_base) keeps the
 * loop turning while the client waits. Messages that arrive while the test
 * waits for another one are kept, in order, and handed out by later calls:
 * unsolicited frames (AgentStatus, Offer, ...) never get lost between
 * replies.
 *
 * Test code only: failures return NULL / -1 and the caller asserts.
 */
#ifndef CL_TCLIENT_H
#define CL_TCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tclient;

/* Any seq (for tclient_expect). */
#define TCLIENT_ANY_SEQ UINT64_MAX
/* Any message kind (for tclient_expect). */
#define TCLIENT_ANY 0

/*
 * Connect to host (numeric IPv4) and port. rcvbuf > 0 sets SO_RCVBUF before
 * connecting (slow-reader tests). Returns NULL on failure.
 */
struct tclient *tclient_connect(const char *host, uint16_t port, int rcvbuf);
/* Close and free, dropping kept messages. NULL does nothing. */
void tclient_free(struct tclient *c);

/* Called about every millisecond while waiting (in-process servers). */
void tclient_set_pump(struct tclient *c, void (*pump)(void *arg), void *arg);

/*
 * Send env. When env->seq is 0 the next sequence number is assigned (and
 * written back). Returns the seq used, or 0 on failure. Waits (pumping) while
 * the socket is full, up to 5 s.
 */
uint64_t tclient_send(struct tclient *c, wire_env *env);
/* Raw bytes (bad frames). Returns 0 or -1. */
int tclient_send_raw(struct tclient *c, const void *p, size_t n);
/* Half-close: no more bytes from the client; replies can still be read. */
int tclient_shutdown_write(struct tclient *c);

/*
 * The next message of kind (a CLOSELOOP__V1__ENVELOPE__MSG_* value, or
 * TCLIENT_ANY) with seq (or TCLIENT_ANY_SEQ), from the kept ones first, then
 * from the socket, waiting up to timeout_ms. Non-matching messages are kept.
 * Returns the message (free with wire_env_free) or NULL on timeout / close.
 */
wire_env *tclient_expect(struct tclient *c, int kind, uint64_t seq, int timeout_ms);

/* Number of kept messages; kept messages of kind (TCLIENT_ANY = all) dropped. */
size_t tclient_pending(const struct tclient *c);
size_t tclient_drop(struct tclient *c, int kind);

/*
 * Wait until the server closes the connection. Returns 1 when it did (EOF or
 * reset), 0 when it is still open after timeout_ms. Frames received meanwhile
 * are kept.
 */
int tclient_wait_closed(struct tclient *c, int timeout_ms);
bool tclient_is_closed(const struct tclient *c);

/* Read whatever is available for up to timeout_ms, keeping the frames. */
void tclient_poll(struct tclient *c, int timeout_ms);

/* ---- message helpers (each returns the seq sent, 0 on failure) ---- */

uint64_t tclient_send_hello(struct tclient *c, int role, const char *token, const char *identity);
/* Hello and its reply: 0 when HelloOk came back, else the Error code (or -1). */
int tclient_hello(struct tclient *c, int role, const char *token, const char *identity,
		  int timeout_ms);
uint64_t tclient_ping(struct tclient *c, uint64_t nonce);
/* skills: NULL-terminated list, may be NULL. postal, segment may be NULL. */
uint64_t tclient_offer(struct tclient *c, const char *call_id, const char *caller,
		       const char *postal, const char *segment, const char *const *skills);
/* kind: CALL_ANSWERED, CALL_NO_ANSWER, CALL_ENDED or CALL_ABANDONED. target_id may be NULL. */
uint64_t tclient_call_event(struct tclient *c, int kind, const char *call_id, const char *target_id);
uint64_t tclient_login(struct tclient *c, const char *target_id, bool ready);
uint64_t tclient_logout(struct tclient *c, const char *target_id);
/* state: an AgentState value. */
uint64_t tclient_set_state(struct tclient *c, const char *target_id, int state, const char *reason);
uint64_t tclient_offer_accept(struct tclient *c, const char *call_id, uint64_t reservation_id);
uint64_t tclient_offer_decline(struct tclient *c, const char *call_id, uint64_t reservation_id,
			       const char *reason);

/*
 * Wait for the reply to seq: returns 0 for Ack, the Error code for Error,
 * -1 on timeout/close, -2 for any other message (kept messages of other
 * seqs stay kept).
 */
int tclient_reply(struct tclient *c, uint64_t seq, int timeout_ms);
/* Text of the last Error seen by tclient_reply / tclient_hello ("" = none). */
const char *tclient_last_error(const struct tclient *c);

/* Monotonic milliseconds. */
uint64_t tclient_now_ms(void);

/* ---- sales loop (docs/sales.md); each returns the seq sent, 0 on failure ---- */

/* outcome: an Outcome value; category may be NULL. */
uint64_t tclient_disposition(struct tclient *c, const char *call_id, int outcome, uint64_t due_ms,
			     const char *category);

struct tclient_item {
	const char *sku;
	int32_t quantity;
	int64_t unit_price_minor;
};

uint64_t tclient_order(struct tclient *c, const char *order_id, const char *call_id,
		       int64_t amount_minor, const char *currency, const struct tclient_item *items,
		       size_t n_items, uint32_t priority, bool expedite);
/* state: an OrderState value; reason may be NULL. */
uint64_t tclient_order_status(struct tclient *c, const char *order_id, int state,
			      const char *reason);

/* Unused strings may be NULL; products is NULL-terminated (may be NULL). */
struct tclient_lead {
	const char *lead_id, *call_id, *name, *company, *street, *postal_code, *city, *country;
	const char *phone, *email;
	bool consent_contact, consent_marketing, consent_share;
	const char *const *products;
};
uint64_t tclient_lead(struct tclient *c, const struct tclient_lead *l);

uint64_t tclient_qa(struct tclient *c, const char *call_id, double score, const char *form_id,
		    const char *reviewer);
/* action: a ComplaintAction value. */
uint64_t tclient_complaint_update(struct tclient *c, const char *complaint_id, int action,
				  const char *by);
uint64_t tclient_partner_drain(struct tclient *c, const char *target_id, bool drain,
			       const char *reason);
uint64_t tclient_erasure(struct tclient *c, const char *phone, const char *email,
			 const char *reference);
/* dimension: a KpiDimension value; name may be NULL. */
uint64_t tclient_kpi_query(struct tclient *c, int dimension, const char *name, uint64_t from_ms,
			   uint64_t to_ms, bool total);
uint64_t tclient_backlog_query(struct tclient *c, int dimension, const char *name, uint32_t limit);
uint64_t tclient_contract_query(struct tclient *c, const char *target_id);

/*
 * The reply to seq when it is a message of kind (caller frees with
 * wire_env_free). NULL otherwise; then *code (may be NULL) is the Error's
 * code (text in tclient_last_error), -1 on timeout or close, -2 for another
 * kind of message (Ack included).
 */
wire_env *tclient_reply_of(struct tclient *c, uint64_t seq, int kind, int timeout_ms, int *code);

#ifdef __cplusplus
}
#endif
#endif /* CL_TCLIENT_H */
