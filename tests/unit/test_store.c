/* test_store.c — the SQLite store through its ops table and job threads:
 * CRUD, case-insensitive names, cascades, sealed env rows, group commit where a
 * failing job rolls back alone, and persistence across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "store/store.h"

static char dir[64];

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/pier-store-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  pier_store *s;
  char err[256] = "";
  if (pier_store_open(dir, &s, err, sizeof err) != 0) return -1;
  *state = s;
  return 0;
}

static int teardown(void **state) {
  pier_store_close(*state);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

typedef struct ctx {
  pier_arena a;
  pier_collection col;
  pier_task task;
  pier_env_var *vars;
  pier_collection *cols;
  size_t n;
  const char *name;
  int64_t id;
} ctx;

static int create_coll(pier_db *db, void *arg) {
  ctx *c = arg;
  c->col.name = c->name;
  c->col.description = "d";
  c->col.created_us = pier_now_us();
  return db->ops->collection_create(db, &c->col);
}

static int get_coll(pier_db *db, void *arg) {
  ctx *c = arg;
  return db->ops->collection_get(db, &c->a, pier_slice_from(c->name), &c->col);
}

static int list_colls(pier_db *db, void *arg) {
  ctx *c = arg;
  return db->ops->collection_list(db, &c->a, &c->cols, &c->n);
}

static void collections(void **state) {
  pier_store *s = *state;
  ctx c = {.name = "Acme"};
  pier_arena_init(&c.a);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, create_coll, &c), 0);
  assert_true(c.col.id > 0);
  c.name = "aCME";
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, create_coll, &c), PIER_EEXISTS);
  c.name = "acme";
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, get_coll, &c), 0);
  assert_string_equal(c.col.name, "Acme");
  c.name = "nope";
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, get_coll, &c), PIER_ENOTFOUND);
  pier_arena_dispose(&c.a);
}

static int put_env_and_task(pier_db *db, void *arg) {
  ctx *c = arg;
  pier_env_var v = {.name = "AWS_REGION", .box = (const unsigned char *)"sealedbytes", .box_len = 11};
  memset(v.nonce, 7, sizeof v.nonce);
  int rc = db->ops->env_put(db, c->col.id, &v);
  if (rc) return rc;
  c->task = (pier_task){.collection_id = c->col.id, .name = "t1", .workflow_json = "{}", .description = "",
                        .version = 1, .croissant_json = "null"};
  return db->ops->task_create(db, &c->task);
}

static int read_env(pier_db *db, void *arg) {
  ctx *c = arg;
  return db->ops->env_list(db, &c->a, c->col.id, &c->vars, &c->n);
}

static int delete_coll(pier_db *db, void *arg) {
  ctx *c = arg;
  return db->ops->collection_delete(db, c->col.id);
}

static int get_task(pier_db *db, void *arg) {
  ctx *c = arg;
  return db->ops->task_get(db, &c->a, c->col.id, pier_slice_from("t1"), &c->task);
}

/* 40 rows: the row reader grows its array past the first 16 and keeps order. */
static void long_lists(void **state) {
  pier_store *s = *state;
  ctx c = {0};
  pier_arena_init(&c.a);
  char names[40][8];
  for (int i = 0; i < 40; i++) {
    snprintf(names[i], sizeof names[i], "c%02d", i);
    c.name = names[i];
    assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, create_coll, &c), 0);
  }
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, list_colls, &c), 0);
  assert_int_equal(c.n, 40);
  for (int i = 0; i < 40; i++) {
    assert_string_equal(c.cols[i].name, names[i]);
    assert_string_equal(c.cols[i].description, "d");
    if (i) assert_true(c.cols[i].id > c.cols[i - 1].id);
  }
  pier_arena_dispose(&c.a);
}

static void cascade_delete(void **state) {
  pier_store *s = *state;
  ctx c = {.name = "cascade"};
  pier_arena_init(&c.a);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, create_coll, &c), 0);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, put_env_and_task, &c), 0);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, read_env, &c), 0);
  assert_int_equal(c.n, 1);
  assert_string_equal(c.vars[0].name, "AWS_REGION");
  assert_int_equal(c.vars[0].box_len, 11);
  assert_int_equal(c.vars[0].nonce[5], 7);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, put_env_and_task, &c), PIER_EEXISTS); /* task twice */
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, delete_coll, &c), 0);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, read_env, &c), 0);
  assert_int_equal(c.n, 0);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, get_task, &c), PIER_ENOTFOUND);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, delete_coll, &c), PIER_ENOTFOUND);
  pier_arena_dispose(&c.a);
}

/* Three async writes in a burst (batched together or not): the middle one
 * fails and must roll back alone. */
typedef struct burst {
  ctx c[3];
  int done, rc[3];
  uv_loop_t *loop;
} burst;

static burst *B;
static void burst_done(void *arg, int rc) {
  ctx *c = arg;
  int i = (int)(c - B->c);
  B->rc[i] = rc;
  if (++B->done == 3) uv_stop(B->loop);
}

static void group_commit_isolation(void **state) {
  pier_store *s = *state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  pier_mailbox mb;
  assert_int_equal(pier_mailbox_init(&mb, &loop), 0);
  burst b = {.loop = &loop};
  B = &b;
  const char *names[3] = {"one", "ONE", "two"};
  for (int i = 0; i < 3; i++) {
    pier_arena_init(&b.c[i].a);
    b.c[i].name = names[i];
    assert_int_equal(pier_store_submit(s, PIER_STORE_WRITE, &mb, create_coll, burst_done, &b.c[i]), 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(b.rc[0], 0);
  assert_int_equal(b.rc[1], PIER_EEXISTS);
  assert_int_equal(b.rc[2], 0);
  ctx l;
  pier_arena_init(&l.a);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, list_colls, &l), 0);
  int seen = 0;
  for (size_t i = 0; i < l.n; i++)
    if (!strcmp(l.cols[i].name, "one") || !strcmp(l.cols[i].name, "two")) seen++;
  assert_int_equal(seen, 2);
  pier_mailbox_close(&mb);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  for (int i = 0; i < 3; i++) pier_arena_dispose(&b.c[i].a);
  pier_arena_dispose(&l.a);
}

static void reopen_persists(void **state) {
  pier_store *s = *state;
  ctx c = {.name = "durable"};
  pier_arena_init(&c.a);
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_WRITE, create_coll, &c), 0);
  pier_store_close(s);
  char err[256] = "";
  assert_int_equal(pier_store_open(dir, &s, err, sizeof err), 0);
  *state = s;
  assert_int_equal(pier_store_run_sync(s, PIER_STORE_READ, get_coll, &c), 0);
  assert_string_equal(c.col.name, "durable");
  pier_arena_dispose(&c.a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(collections, setup, teardown),
      cmocka_unit_test_setup_teardown(long_lists, setup, teardown),
      cmocka_unit_test_setup_teardown(cascade_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(group_commit_isolation, setup, teardown),
      cmocka_unit_test_setup_teardown(reopen_persists, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
