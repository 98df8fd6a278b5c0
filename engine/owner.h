/*
 * owner.h — who offered a call and must hear what the router decided.
 *
 * The router keeps a call's owner as an opaque pointer (rt_call_offer). Each
 * front end that offers calls — a protocol session (srv), an HTTP request
 * held open (http), a Kamailio evapi connection (kam) — embeds a struct
 * cl_owner as the FIRST member of its own object and passes that pointer;
 * the engine reads the kind to forward the router's route / queued / reject
 * hooks to the right module. A pointer to the object and to its cl_owner are
 * the same address. The sales module (follow-up tasks) owns its calls with
 * one cl_owner at the start of struct sales.
 */
#ifndef CL_OWNER_H
#define CL_OWNER_H

#ifdef __cplusplus
extern "C" {
#endif

enum cl_owner_kind {
	CL_OWNER_SESSION = 1,  /* srv: protocol connection (PBX role) */
	CL_OWNER_HTTP = 2,     /* http: a /v1/route request */
	CL_OWNER_KAMAILIO = 3, /* kam: an evapi connection */
	CL_OWNER_SALES = 4,    /* sales: follow-up calls the engine itself offers */
};

struct cl_owner {
	enum cl_owner_kind kind;
};

static inline enum cl_owner_kind cl_owner_kind(const void *owner)
{
	return ((const struct cl_owner *)owner)->kind;
}

#ifdef __cplusplus
}
#endif
#endif /* CL_OWNER_H */
