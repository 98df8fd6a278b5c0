/*
 * sales_wire.h — the protocol side of the sales loop: the sales messages of
 * closeloop.proto (Envelope slots 60-79) turned into sales requests, with
 * the checks that depend on the session (role, bound target), and the
 * replies built back. The server (srv.c) calls it for every sales message
 * after its own role check; it never touches sockets.
 *
 * Loop thread only.
 */
#ifndef CL_SALES_WIRE_H
#define CL_SALES_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "sales.h"
#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The session a message comes from. Strings borrowed. */
struct sales_wire_ctx {
	int role;            /* Role of the protocol */
	const char *target;  /* agent: bound rep ("" = none); partner: its id */
	const char *who;     /* identity for events and logs; may be NULL */
};

#define SALES_WIRE_MEM 8

/* What to send back. Either code != 0 (an Error with text and ids), or
 * env.msg_case set (a reply message), or neither (an Ack). */
struct sales_wire_reply {
	int code;                   /* ErrorCode of the protocol */
	char text[SALES_TEXT_MAX];
	const char *call_id, *target_id; /* repeated in the Error; may be NULL */
	wire_env env;
	void *mem[SALES_WIRE_MEM];  /* what the reply points into (freed by _free) */
	size_t n_mem;
	/* Storage for small replies. */
	union {
		Closeloop__V1__DispositionAck disposition_ack;
		Closeloop__V1__LeadAck lead_ack;
		Closeloop__V1__ErasureResult erasure_result;
		Closeloop__V1__KpiReply kpi_reply;
		Closeloop__V1__BacklogReply backlog_reply;
		Closeloop__V1__ContractReply contract_reply;
	} u;
};

/* A message of the sales slots that a client may send. */
bool sales_wire_is_request(int msg_case);
/* May a session of role send it (the server refuses with FORBIDDEN)? */
bool sales_wire_role_may(int role, int msg_case);

/* Handle in (a sales request the role may send). s may be NULL (no sales
 * module): every request is refused with INTERNAL. out is filled; free
 * it with sales_wire_reply_free after sending. */
void sales_wire_handle(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
		       struct sales_wire_reply *out);
void sales_wire_reply_free(struct sales_wire_reply *out);

#ifdef __cplusplus
}
#endif
#endif /* CL_SALES_WIRE_H */
