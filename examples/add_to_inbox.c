/* The notes' addToInbox, with eddy: three awaits with ?-style error
 * propagation.  The "database" calls are coroutines that sleep a little
 * and then answer, standing in for real I/O.
 *
 *   async fn addToInbox(email_id: u64, recipient_id: u64) -> Result<(), Error> {
 *       let message = loadMessage(email_id).await?;
 *       let recipient = get_recipient(recipient_id).await?;
 *       recipient.verifyHasSpace(&message)?;
 *       recipient.addToInbox(message).await
 *   }
 *
 * Run: build/examples/add_to_inbox   (exits 0 when every case behaves) */
#include <eddy.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct message {
    uint64_t id;
    size_t size;
};

struct recipient {
    uint64_t id;
    size_t space;
};

/* ---- leaf-ish coroutines standing in for database calls ----------------- */

typedef struct load_message {
    eddy_coro co;
    uint64_t email_id;
    struct message *out_msg;
    eddy_sleep sl;
} load_message;

static void load_message_init(load_message *f, uint64_t email_id, struct message *out_msg)
{
    *f = (load_message){.email_id = email_id, .out_msg = out_msg};
}

static eddy_poll load_message_poll(load_message *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &f->sl, EDDY_MS(1));
    if (f->email_id == 0) {
        *out = -ENOENT; /* no such message */
        EDDY_RETURN();
    }
    *f->out_msg = (struct message){.id = f->email_id, .size = (size_t)f->email_id * 100};
    *out = 0;
    EDDY_END();
}

static void load_message_drop(load_message *f) { (void)load_message_poll(f, EDDY_CX_DROP, NULL); }

typedef struct get_recipient {
    eddy_coro co;
    uint64_t id;
    struct recipient *out_r;
    eddy_sleep sl;
} get_recipient;

static void get_recipient_init(get_recipient *f, uint64_t id, struct recipient *out_r)
{
    *f = (get_recipient){.id = id, .out_r = out_r};
}

static eddy_poll get_recipient_poll(get_recipient *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &f->sl, EDDY_MS(1));
    if (f->id == 0) {
        *out = -ESRCH; /* unknown recipient */
        EDDY_RETURN();
    }
    *f->out_r = (struct recipient){.id = f->id, .space = 1000};
    *out = 0;
    EDDY_END();
}

static void get_recipient_drop(get_recipient *f) { (void)get_recipient_poll(f, EDDY_CX_DROP, NULL); }

typedef struct store_message {
    eddy_coro co;
    eddy_sleep sl;
} store_message;

static void store_message_init(store_message *f, const struct recipient *r, const struct message *m)
{
    (void)r;
    (void)m;
    *f = (store_message){0};
}

static eddy_poll store_message_poll(store_message *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &f->sl, EDDY_MS(1));
    *out = 0;
    EDDY_END();
}

static void store_message_drop(store_message *f) { (void)store_message_poll(f, EDDY_CX_DROP, NULL); }

/* ---- addToInbox ---------------------------------------------------------- *
 * The frame is the notes' AddToInboxState: what lives across an await
 * (message, recipient) plus one child at a time in a union. */

typedef struct add_to_inbox {
    eddy_coro co;
    uint64_t email_id, recipient_id;
    struct message message;
    struct recipient recipient;
    int rc;
    union {
        load_message load;
        get_recipient get;
        store_message store;
    } child;
} add_to_inbox;

static void add_to_inbox_init(add_to_inbox *f, uint64_t email_id, uint64_t recipient_id)
{
    *f = (add_to_inbox){.email_id = email_id, .recipient_id = recipient_id};
}

static int verify_has_space(const struct recipient *r, const struct message *m)
{
    return m->size <= r->space ? 0 : -ENOSPC;
}

static eddy_poll add_to_inbox_poll(add_to_inbox *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(&f->rc, load_message, &f->child.load, f->email_id, &f->message);
    EDDY_TRY(out, f->rc);
    EDDY_AWAIT(&f->rc, get_recipient, &f->child.get, f->recipient_id, &f->recipient);
    EDDY_TRY(out, f->rc);
    EDDY_TRY(out, verify_has_space(&f->recipient, &f->message));
    EDDY_AWAIT(out, store_message, &f->child.store, &f->recipient, &f->message);
    EDDY_END();
}

EDDY_CORO_VT(add_to_inbox_vt, add_to_inbox, int, add_to_inbox_poll);

int main(void)
{
    static const struct {
        uint64_t email, rcpt;
        int want;
    } cases[] = {
        {5, 7, 0},        /* fits */
        {0, 7, -ENOENT},  /* loadMessage fails: the rest never runs */
        {5, 0, -ESRCH},   /* get_recipient fails */
        {50, 7, -ENOSPC}, /* verifyHasSpace fails */
    };
    eddy_rt *rt;
    int err = eddy_rt_new(&rt, NULL);
    if (err < 0) {
        fprintf(stderr, "eddy_rt_new: %s\n", eddy_strerror(err));
        return 1;
    }
    int failures = 0;
    printf("sizeof(add_to_inbox) = %zu bytes: the whole suspended state\n", sizeof(add_to_inbox));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        add_to_inbox f;
        add_to_inbox_init(&f, cases[i].email, cases[i].rcpt);
        int out = 1;
        err = eddy_block_on(rt, &add_to_inbox_vt, &f, &out);
        printf("addToInbox(%llu, %llu) -> %s\n", (unsigned long long)cases[i].email,
               (unsigned long long)cases[i].rcpt, out == 0 ? "Ok" : eddy_strerror(out));
        if (err < 0 || out != cases[i].want)
            failures++;
    }
    eddy_rt_free(rt);
    return failures ? 1 : 0;
}
