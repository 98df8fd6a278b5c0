/*
 * kam_proto.h — the messages closeloopd exchanges with Kamailio's evapi
 * module: netstring framing, the JSON events the route script sends and the
 * JSON replies the engine sends back. Pure functions, no I/O: kam.c does the
 * sockets, tests/unit/test_kam.c the checking.
 *
 * Framing: one netstring per message, "<len>:<payload>,", len in decimal
 * bytes (Kamailio's evapi with netstring_format on). Whitespace between
 * frames is skipped, as Kamailio does. A frame longer than the configured
 * maximum, a length that is not decimal, or a missing ',' is a framing error:
 * the stream cannot be resynchronised, so the caller drops the connection.
 *
 * Events (Kamailio -> engine), one JSON object each, "event" names the kind:
 *   invite   call_id, from, to, postal_code?, segment?, skills?, language?,
 *            priority?, tindex, tlabel   (the INVITE's transaction is suspended)
 *   retry    call_id, target_id, code, tindex, tlabel   (the target failed;
 *            the transaction is suspended again, waiting for the next route)
 *   answered call_id, target_id?                        (2xx for the INVITE)
 *   ended    call_id                                    (BYE)
 *   cancel   call_id                                    (CANCEL before answer)
 *   timeout  call_id                                    (nobody answered the
 *            suspended transaction in time: the script replied itself)
 *   failed   call_id, target_id?, code?                 (the proxy could not
 *            relay to the target and gave up on the call with an error)
 * skills is a comma-separated string or a list of strings. Unknown keys are
 * ignored, so the script may send more than the engine reads.
 *
 * Replies (engine -> Kamailio), "action" names the kind:
 *   route   call_id, tindex, tlabel, uri, target_id, reservation_id,
 *           territory, ring_ms
 *   reject  call_id, tindex, tlabel, code, reason, text
 *   queued  call_id, position, ewt_ms   (informational; no transaction)
 *
 * No state is kept here: any thread may call these functions.
 */
#ifndef CL_KAM_PROTO_H
#define CL_KAM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;

enum {
	KAM_OK = 0,
	KAM_ENOMEM = 1,
	KAM_EINVAL = 2,   /* bad argument or configuration */
	KAM_EFRAME = 3,   /* malformed or oversized netstring */
	KAM_EJSON = 4,    /* not a JSON object, or a field of the wrong type */
	KAM_EFIELD = 5,   /* a required field is missing or out of range */
	KAM_ESPACE = 6,   /* output buffer too small */
	KAM_ESTATE = 7,   /* started twice, or stopped */
};

#define KAM_ID_MAX 128          /* call and target ids, bytes (the router's limit) */
#define KAM_NS_DIGITS_MAX 10    /* length digits of a netstring */
#define KAM_SKILLS_TEXT_MAX 1024 /* bytes of the skills field */

/* Short text for a KAM_E* code (positive or negative). */
const char *kam_strerror(int err);

/*
 * Look for one netstring at the start of buf (len bytes available),
 * skipping leading whitespace. *skip = whitespace before it, *hdr = bytes
 * from the first digit through ':' (0 while the ':' has not arrived),
 * *plen = payload length. Returns 1 when the whole frame is there (it takes
 * skip + hdr + plen + 1 bytes and its ',' has been checked), 0 when more
 * bytes are needed (with *hdr set, the frame needs skip + hdr + plen + 1
 * bytes in all), or -KAM_EFRAME (bad length digits, a length above max, an
 * empty frame, or no ',' after the payload). Never reads beyond len.
 */
int kam_ns_parse(const char *buf, size_t len, size_t max, size_t *skip, size_t *hdr,
		 size_t *plen);

/* Write "<len>:" for a payload of plen bytes into out (at least
 * KAM_NS_DIGITS_MAX + 2 bytes). Returns the bytes written. */
size_t kam_ns_header(size_t plen, char *out);

enum kam_ev_type {
	KAM_EV_INVITE = 1,
	KAM_EV_RETRY,
	KAM_EV_ANSWERED,
	KAM_EV_ENDED,
	KAM_EV_CANCEL,
	KAM_EV_TIMEOUT,
	KAM_EV_FAILED,
};

/* Name of an event type ("invite", ...), "?" when unknown. */
const char *kam_ev_name(enum kam_ev_type t);

/*
 * A parsed event. Strings are borrowed from the JSON document returned by
 * kam_event_parse (valid until the caller frees it with kam_event_free) or,
 * for skills, from ev->skills_text; empty optional strings are NULL.
 */
struct kam_event {
	enum kam_ev_type type;
	const char *call_id;
	const char *from;        /* caller, E.164 */
	const char *to;          /* dialed number */
	const char *postal_code;
	const char *segment;
	const char *language;
	const char *target_id;   /* retry, answered, failed */
	const char *skills[64];  /* CFG_MAX_SKILLS */
	size_t n_skills;
	uint32_t priority;
	uint32_t tindex, tlabel;
	bool has_tx;             /* tindex and tlabel were both valid */
	int code;                /* retry, failed: the SIP status, 0 = none */
	char skills_text[KAM_SKILLS_TEXT_MAX + 1];
};

/*
 * Parse one event from payload (len bytes, need not be NUL-terminated).
 * Returns 0, -KAM_EJSON (not a JSON object) or -KAM_EFIELD (a field is
 * missing, of the wrong type or out of range; err holds which). *doc is set
 * whenever the payload was a JSON object, also on -KAM_EFIELD, and must be
 * released with kam_event_free after the last use of ev's strings. On
 * -KAM_EFIELD, ev is filled as far as it could be read (type, call_id,
 * has_tx/tindex/tlabel), so a suspended transaction can still be answered.
 */
int kam_event_parse(const char *payload, size_t len, struct kam_event *ev, struct json_t **doc,
		    char *err, size_t errlen);
/* Free what kam_event_parse returned; NULL does nothing. */
void kam_event_free(struct json_t *doc);

enum kam_action {
	KAM_ACT_ROUTE = 1,
	KAM_ACT_REJECT,
	KAM_ACT_QUEUED,
};

/* A reply. Strings are borrowed; NULL strings are left out (uri and
 * target_id are required for route, call_id always). */
struct kam_reply {
	enum kam_action action;
	const char *call_id;
	uint32_t tindex, tlabel;   /* route, reject */
	const char *uri;           /* route: the target's SIP URI */
	const char *target_id;     /* route */
	const char *territory;     /* route, may be NULL */
	uint64_t reservation_id;   /* route */
	uint32_t ring_ms;          /* route: how long the target may ring, 0 = left out */
	int code;                  /* reject: SIP status 300..699 */
	const char *reason;        /* reject: reason phrase */
	const char *text;          /* reject: free text, may be NULL */
	uint32_t position, ewt_ms; /* queued */
};

/*
 * Encode r as one JSON object into out (cap bytes; NUL-terminated when it
 * fits). Strings are escaped for JSON (quotes, backslashes, control bytes).
 * Returns the payload length (without the NUL) or -KAM_ESPACE / -KAM_EINVAL.
 */
int kam_reply_encode(const struct kam_reply *r, char *out, size_t cap);

/* The SIP status and reason phrase for a router rejection. */
void kam_reject_sip(enum rt_reject why, int *code, const char **reason);

/* The SIP status and reason phrase for an rt_call_offer failure (-RT_E*). */
void kam_offer_error_sip(int rt_err, int *code, const char **reason);

/* How long Kamailio should let a target ring: a little under the router's
 * ring timeout, so the proxy gives up first and reports the no-answer
 * before the router re-routes the call on its own. */
uint32_t kam_ring_ms(uint32_t ring_timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* CL_KAM_PROTO_H */
