/* path.c — path expressions, `{{ }}` templates and `_path` config resolution.
 * Parsing never allocates; evaluation walks the context read-only and copies only
 * what it returns, charging every copied node to one byte budget per call. */
#include "engine/path.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

#define KEYS_LISTED_MAX 16  /* keys named in a "has keys" message */
#define KEY_SHOWN_BYTES 64  /* bytes of one key shown in a message */
#define NODE_COST 64        /* approximate bytes of one cJSON node */

/* ---- error messages: appended, truncated silently, always NUL-terminated ---- */

typedef struct msg {
  char *p;
  size_t cap, len;
} msg;

static msg msg_start(char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  return (msg){err, err ? errlen : 0, 0};
}

__attribute__((format(printf, 2, 3))) static void msg_add(msg *m, const char *fmt, ...) {
  if (m->cap == 0 || m->len + 1 >= m->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(m->p + m->len, m->cap - m->len, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t room = m->cap - m->len - 1;
  m->len += (size_t)n < room ? (size_t)n : room;
}

/* Bytes from the user, with control bytes shown as \xHH so a message stays one line. */
static void msg_bytes(msg *m, const char *p, size_t n) {
  for (size_t i = 0; i < n && m->len + 1 < m->cap; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c < 0x20 || c == 0x7f) {
      msg_add(m, "\\x%02x", c);
      continue;
    }
    m->p[m->len++] = (char)c;
    m->p[m->len] = '\0';
  }
}

/* ---- parsing ---- */

enum { STEP_KEY, STEP_INDEX, STEP_ALL };

typedef struct step {
  int kind;
  pier_slice key;           /* STEP_KEY: unescaped bytes, in expr or keybuf */
  size_t index;             /* STEP_INDEX */
  size_t src_begin, src_end; /* the bytes of expr spelling this step, '.' included */
} step;

typedef struct parsed {
  pier_slice expr; /* trimmed */
  step steps[PIER_PATH_STEPS_MAX];
  size_t n;
  char keybuf[PIER_PATH_EXPR_BYTES_MAX]; /* unescaped quoted keys */
  size_t keyused;
} parsed;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static pier_slice trim_ws(pier_slice s) {
  while (s.len && is_space(s.ptr[0])) s.ptr++, s.len--;
  while (s.len && is_space(s.ptr[s.len - 1])) s.len--;
  return s;
}

static bool key_byte(unsigned char c) {
  return c > 0x20 && c != 0x7f && c != '.' && c != '[' && c != ']' && c != '"';
}

static int perr(const parsed *p, msg *m, size_t at, const char *what) {
  msg_add(m, "invalid path \"");
  msg_bytes(m, p->expr.ptr, p->expr.len);
  msg_add(m, "\": %s at byte %zu", what, at);
  return PIER_EINVAL;
}

/* The byte at i cannot start or continue a key: say why. */
static int bad_byte(const parsed *p, msg *m, size_t i) {
  char c = i < p->expr.len ? p->expr.ptr[i] : '\0';
  if (i >= p->expr.len || c == '.' || c == '[') return perr(p, m, i, "empty key");
  if (c == ' ') return perr(p, m, i, "unexpected space (quote such keys: a[\"my key\"])");
  if (c == '"') return perr(p, m, i, "unexpected quote (quoted keys go in brackets: a[\"key\"])");
  char what[32];
  snprintf(what, sizeof(what), "unexpected \"%c\"", c);
  return perr(p, m, i, what);
}

static int add_step(parsed *p, msg *m, step s) {
  if (p->n == PIER_PATH_STEPS_MAX) {
    msg_add(m, "invalid path \"");
    msg_bytes(m, p->expr.ptr, p->expr.len);
    msg_add(m, "\": more than %d steps", PIER_PATH_STEPS_MAX);
    return PIER_ETOOBIG;
  }
  p->steps[p->n++] = s;
  return 0;
}

/* `[` "..." `]` or `[` '...' `]`; j is just past the opening quote's bracket. */
static int parse_quoted(parsed *p, msg *m, size_t open, size_t *pos) {
  const char *e = p->expr.ptr;
  size_t j = open + 1, len = p->expr.len;
  char q = e[j++];
  char *dst = p->keybuf + p->keyused;
  size_t n = 0;
  while (j < len && e[j] != q) {
    if (e[j] == '\\' && ++j == len) break;
    dst[n++] = e[j++];
  }
  if (j >= len) return perr(p, m, open + 1, "unterminated quoted key");
  j++;
  if (j >= len) return perr(p, m, open, "unclosed \"[\"");
  if (e[j] != ']') return perr(p, m, j, "expected \"]\"");
  p->keyused += n;
  *pos = j + 1;
  return add_step(p, m, (step){STEP_KEY, pier_slice_make(dst, n), 0, open, j + 1});
}

static int parse_bracket(parsed *p, msg *m, size_t *pos) {
  const char *e = p->expr.ptr;
  size_t open = *pos, j = open + 1, len = p->expr.len;
  if (j >= len) return perr(p, m, open, "unclosed \"[\"");
  if (e[j] == '"' || e[j] == '\'') return parse_quoted(p, m, open, pos);
  step s = {STEP_ALL, PIER_SLICE_NULL, 0, open, 0};
  if (e[j] == '*') {
    j++;
  } else if (e[j] >= '0' && e[j] <= '9') {
    s.kind = STEP_INDEX;
    for (; j < len && e[j] >= '0' && e[j] <= '9'; j++) {
      s.index = s.index * 10 + (size_t)(e[j] - '0');
      if (s.index > INT_MAX) return perr(p, m, open + 1, "index too large");
    }
  } else if (e[j] == '-') {
    return perr(p, m, j, "negative index (indexes start at 0)");
  } else {
    return perr(p, m, j, "expected an index, \"*\" or a quoted key inside []");
  }
  if (j >= len) return perr(p, m, open, "unclosed \"[\"");
  if (e[j] != ']') return perr(p, m, j, "expected \"]\"");
  s.src_end = *pos = j + 1;
  return add_step(p, m, s);
}

static int parse_key(parsed *p, msg *m, size_t *pos) {
  size_t start = *pos, i = start;
  while (i < p->expr.len && key_byte((unsigned char)p->expr.ptr[i])) i++;
  if (i == start) return bad_byte(p, m, i);
  *pos = i;
  step s = {STEP_KEY, pier_slice_make(p->expr.ptr + start, i - start), 0, start ? start - 1 : 0, i};
  return add_step(p, m, s);
}

static int parse(pier_slice expr, parsed *p, msg *m) {
  pier_slice e = trim_ws(expr);
  p->expr = e;
  p->n = p->keyused = 0;
  if (e.len == 0) {
    msg_add(m, "empty path expression");
    return PIER_EINVAL;
  }
  if (e.len > PIER_PATH_EXPR_BYTES_MAX) {
    msg_add(m, "path expression of %zu bytes is longer than %d bytes", e.len, PIER_PATH_EXPR_BYTES_MAX);
    return PIER_ETOOBIG;
  }
  for (size_t i = 0; i < e.len; i++)
    if ((unsigned char)e.ptr[i] < 0x20 || e.ptr[i] == 0x7f) return perr(p, m, i, "control byte");
  size_t i = 0;
  for (;;) {
    int rc = parse_key(p, m, &i);
    while (!rc && i < e.len && e.ptr[i] == '[') rc = parse_bracket(p, m, &i);
    if (rc) return rc;
    if (i == e.len) return 0;
    if (e.ptr[i] != '.') return bad_byte(p, m, i);
    i++;
  }
}

int pier_path_check(pier_slice expr, char *err, size_t errlen) {
  msg m = msg_start(err, errlen);
  parsed p;
  return parse(expr, &p, &m);
}

/* ---- copying against a budget ---- */

static cJSON *new_like(const cJSON *v) {
  switch (v->type & 0xFF) {
  case cJSON_False: return cJSON_CreateFalse();
  case cJSON_True: return cJSON_CreateTrue();
  case cJSON_Number: return cJSON_CreateNumber(v->valuedouble);
  case cJSON_String: return cJSON_CreateString(v->valuestring ? v->valuestring : "");
  case cJSON_Raw: return cJSON_CreateRaw(v->valuestring ? v->valuestring : "");
  case cJSON_Array: return cJSON_CreateArray();
  case cJSON_Object: return cJSON_CreateObject();
  default: return cJSON_CreateNull();
  }
}

static int charge(size_t *budget, size_t bytes) {
  if (bytes > *budget) return PIER_ETOOBIG;
  *budget -= bytes;
  return 0;
}

/* Add item to a container (under key when container is an object); on failure item is freed. */
static int adopt(cJSON *container, const char *key, cJSON *item) {
  cJSON_bool ok = key ? cJSON_AddItemToObject(container, key, item) : cJSON_AddItemToArray(container, item);
  if (ok) return 0;
  cJSON_Delete(item);
  return PIER_ENOMEM;
}

/* Deep copy of v; recursion depth is the depth of v, which parsing capped. */
static int copy_node(const cJSON *v, size_t *budget, cJSON **out) {
  bool str = cJSON_IsString(v) || cJSON_IsRaw(v);
  int rc = charge(budget, NODE_COST + (str && v->valuestring ? strlen(v->valuestring) : 0));
  if (rc) return rc;
  cJSON *n = new_like(v);
  if (!n) return PIER_ENOMEM;
  bool obj = cJSON_IsObject(v);
  for (const cJSON *ch = (cJSON_IsArray(v) || obj) ? v->child : NULL; ch; ch = ch->next) {
    cJSON *c = NULL;
    const char *key = obj ? (ch->string ? ch->string : "") : NULL;
    rc = charge(budget, key ? strlen(key) : 0);
    if (!rc) rc = copy_node(ch, budget, &c);
    if (!rc) rc = adopt(n, key, c);
    if (rc) {
      cJSON_Delete(n);
      return rc;
    }
  }
  *out = n;
  return 0;
}

/* ---- evaluation ---- */

typedef struct evalctx {
  const parsed *p;
  msg *m;
  size_t *budget;
  size_t fan_total;
  size_t fan_idx[PIER_PATH_STEPS_MAX]; /* element being visited by each [*] */
} evalctx;

/* First child of obj whose key is exactly key (keys may hold any bytes but NUL). */
static const cJSON *find_key(const cJSON *obj, pier_slice key) {
  for (const cJSON *ch = obj->child; ch; ch = ch->next)
    if (ch->string && strnlen(ch->string, key.len + 1) == key.len &&
        (key.len == 0 || memcmp(ch->string, key.ptr, key.len) == 0))
      return ch;
  return NULL;
}

/* The path up to (not including) step k, with each [*] replaced by the element visited. */
static void put_where(const evalctx *c, size_t k) {
  const parsed *p = c->p;
  if (k == 0) {
    msg_add(c->m, "the context");
    return;
  }
  size_t from = 0;
  msg_add(c->m, "\"");
  for (size_t j = 0; j < k; j++) {
    if (p->steps[j].kind != STEP_ALL) continue;
    msg_bytes(c->m, p->expr.ptr + from, p->steps[j].src_begin - from);
    msg_add(c->m, "[%zu]", c->fan_idx[j]);
    from = p->steps[j].src_end;
  }
  msg_bytes(c->m, p->expr.ptr + from, p->steps[k - 1].src_end - from);
  msg_add(c->m, "\"");
}

static void put_path(msg *m, const parsed *p) {
  msg_add(m, "path \"");
  msg_bytes(m, p->expr.ptr, p->expr.len);
  msg_add(m, "\"");
}

static void put_head(const evalctx *c) {
  put_path(c->m, c->p);
  msg_add(c->m, " not found: ");
}

static int wrong_type(const evalctx *c, size_t k, const cJSON *node) {
  const step *s = &c->p->steps[k];
  put_head(c);
  put_where(c, k);
  msg_add(c->m, " is %s, cannot ", pier_json_type_name(node));
  if (s->kind == STEP_KEY) {
    msg_add(c->m, "look up key \"");
    msg_bytes(c->m, s->key.ptr, s->key.len);
    msg_add(c->m, "\"");
  }
  else if (s->kind == STEP_INDEX) msg_add(c->m, "index [%zu]", s->index);
  else msg_add(c->m, "fan out [*]");
  return PIER_ENOTFOUND;
}

static int no_key(const evalctx *c, size_t k, const cJSON *obj) {
  put_head(c);
  put_where(c, k);
  if (!obj->child) {
    msg_add(c->m, " is an empty object");
    return PIER_ENOTFOUND;
  }
  msg_add(c->m, " has keys ");
  size_t shown = 0, total = 0;
  for (const cJSON *ch = obj->child; ch; ch = ch->next, total++) {
    if (shown == KEYS_LISTED_MAX) continue;
    const char *key = ch->string ? ch->string : "";
    msg_add(c->m, "%s", shown++ ? ", " : "");
    msg_bytes(c->m, key, strnlen(key, KEY_SHOWN_BYTES));
  }
  if (total > shown) msg_add(c->m, ", ... (%zu more)", total - shown);
  return PIER_ENOTFOUND;
}

static int out_of_range(const evalctx *c, size_t k, size_t size) {
  put_head(c);
  msg_add(c->m, "index %zu out of range: ", c->p->steps[k].index);
  put_where(c, k);
  if (size == 0) msg_add(c->m, " is an empty array");
  else msg_add(c->m, " has %zu element%s", size, size == 1 ? "" : "s");
  return PIER_ENOTFOUND;
}

static int copy_or_fail(const evalctx *c, const cJSON *v, cJSON **out) {
  int rc = copy_node(v, c->budget, out);
  if (rc == PIER_ETOOBIG) {
    put_path(c->m, c->p);
    msg_add(c->m, ": the value is larger than %u bytes", PIER_PATH_RESULT_BYTES_MAX);
  } else if (rc) msg_add(c->m, "out of memory");
  return rc;
}

static int walk(evalctx *c, const cJSON *node, size_t k, const cJSON **found, cJSON **owned);

/* Step k is [*] over arr: the rest of the path is applied to each element. */
static int fan_out(evalctx *c, const cJSON *arr, size_t k, cJSON **owned) {
  cJSON *res = cJSON_CreateArray();
  int rc = res ? charge(c->budget, NODE_COST) : PIER_ENOMEM;
  size_t i = 0;
  for (const cJSON *el = arr->child; el && !rc; el = el->next, i++) {
    if (++c->fan_total > PIER_PATH_FANOUT_MAX) {
      put_path(c->m, c->p);
      msg_add(c->m, ": [*] produced more than %d elements", PIER_PATH_FANOUT_MAX);
      rc = PIER_ETOOBIG;
      break;
    }
    c->fan_idx[k] = i;
    const cJSON *f = NULL;
    cJSON *o = NULL;
    rc = walk(c, el, k + 1, &f, &o);
    if (!rc && !o) rc = copy_or_fail(c, f, &o);
    if (!rc) rc = adopt(res, NULL, o);
  }
  if (rc) {
    if (rc == PIER_ENOMEM && c->m->len == 0) msg_add(c->m, "out of memory");
    cJSON_Delete(res);
    return rc;
  }
  *owned = res;
  return 0;
}

/* Apply steps k.. to node: *found is a borrowed node, or *owned a fresh fan-out array. */
static int walk(evalctx *c, const cJSON *node, size_t k, const cJSON **found, cJSON **owned) {
  for (; k < c->p->n; k++) {
    const step *s = &c->p->steps[k];
    if (s->kind == STEP_ALL) {
      if (!cJSON_IsArray(node)) return wrong_type(c, k, node);
      return fan_out(c, node, k, owned);
    }
    if (s->kind == STEP_KEY) {
      if (!cJSON_IsObject(node)) return wrong_type(c, k, node);
      const cJSON *next = find_key(node, s->key);
      if (!next) return no_key(c, k, node);
      node = next;
    } else {
      if (!cJSON_IsArray(node)) return wrong_type(c, k, node);
      const cJSON *next = cJSON_GetArrayItem(node, (int)s->index);
      if (!next) return out_of_range(c, k, (size_t)cJSON_GetArraySize(node));
      node = next;
    }
  }
  *found = node;
  return 0;
}

static int eval_parsed(const cJSON *ctx, const parsed *p, size_t *budget, msg *m, const cJSON **found,
                       cJSON **owned) {
  *found = NULL;
  *owned = NULL;
  if (!cJSON_IsObject(ctx)) {
    put_path(m, p);
    msg_add(m, ": the context is not an object");
    return PIER_EINVAL;
  }
  evalctx c = {.p = p, .m = m, .budget = budget};
  return walk(&c, ctx, 0, found, owned);
}

/* Parse and evaluate; the result is always owned (copied when borrowed). */
static int eval_owned(const cJSON *ctx, pier_slice expr, size_t *budget, msg *m, cJSON **out) {
  parsed p;
  *out = NULL;
  int rc = parse(expr, &p, m);
  if (rc) return rc;
  const cJSON *f;
  cJSON *o;
  rc = eval_parsed(ctx, &p, budget, m, &f, &o);
  if (rc) return rc;
  if (!o) {
    evalctx c = {.p = &p, .m = m, .budget = budget};
    rc = copy_or_fail(&c, f, &o);
  }
  *out = o;
  return rc;
}

int pier_path_eval(const cJSON *ctx, pier_slice expr, cJSON **out, char *err, size_t errlen) {
  msg m = msg_start(err, errlen);
  size_t budget = PIER_PATH_RESULT_BYTES_MAX;
  return eval_owned(ctx, expr, &budget, &m, out);
}

/* ---- templates ---- */

/* Offset of the next "cc" (c twice) at or after from, or t.len. */
static size_t find_pair(pier_slice t, size_t from, char c) {
  while (from + 1 < t.len) {
    const char *hit = memchr(t.ptr + from, c, t.len - from - 1);
    if (!hit) break;
    size_t at = (size_t)(hit - t.ptr);
    if (t.ptr[at + 1] == c) return at;
    from = at + 1;
  }
  return t.len;
}

static int append_value(pier_buf *out, const cJSON *v) {
  if (cJSON_IsString(v)) return pier_buf_append_cstr(out, v->valuestring);
  return pier_json_append(out, v);
}

static int buf_fail(msg *m, int rc, const pier_buf *out) {
  if (rc == PIER_ETOOBIG) msg_add(m, "the rendered text is larger than %zu bytes", out->max);
  else if (rc) msg_add(m, "out of memory");
  return rc;
}

static int render_expr(const cJSON *ctx, pier_slice expr, pier_buf *out, size_t *budget, msg *m) {
  parsed p;
  int rc = parse(expr, &p, m);
  if (rc) return rc;
  const cJSON *f;
  cJSON *o;
  rc = eval_parsed(ctx, &p, budget, m, &f, &o);
  if (rc) return rc;
  rc = append_value(out, o ? o : f);
  cJSON_Delete(o);
  return buf_fail(m, rc, out);
}

static int render(const cJSON *ctx, pier_slice t, pier_buf *out, size_t *budget, msg *m) {
  size_t i = 0;
  while (i < t.len) {
    size_t open = find_pair(t, i, '{');
    int rc = pier_buf_append(out, t.ptr + i, open - i);
    if (rc) return buf_fail(m, rc, out);
    if (open == t.len) break;
    size_t close = find_pair(t, open + 2, '}');
    if (close == t.len) {
      msg_add(m, "unclosed \"{{\" at byte %zu", open);
      return PIER_EINVAL;
    }
    pier_slice inner = trim_ws(pier_slice_make(t.ptr + open + 2, close - open - 2));
    if (inner.len == 0) {
      msg_add(m, "empty \"{{}}\" at byte %zu", open);
      return PIER_EINVAL;
    }
    rc = render_expr(ctx, inner, out, budget, m);
    if (rc) return rc;
    i = close + 2;
  }
  return 0;
}

int pier_template_render(const cJSON *ctx, pier_slice tmpl, pier_buf *out, char *err, size_t errlen) {
  msg m = msg_start(err, errlen);
  size_t budget = PIER_PATH_RESULT_BYTES_MAX;
  return render(ctx, tmpl, out, &budget, &m);
}

/* Append the value of variable `name`, or return PIER_ENOTFOUND to leave it as is. */
static int append_var(const cJSON *vars, pier_slice name, pier_buf *out) {
  const cJSON *v = cJSON_IsObject(vars) && name.len ? find_key(vars, name) : NULL;
  if (v) return append_value(out, v);
  parsed p;
  msg quiet = msg_start(NULL, 0);
  if (!cJSON_IsObject(vars) || parse(name, &p, &quiet)) return PIER_ENOTFOUND;
  size_t budget = PIER_PATH_RESULT_BYTES_MAX;
  const cJSON *f;
  cJSON *o;
  int rc = eval_parsed(vars, &p, &budget, &quiet, &f, &o);
  if (rc == PIER_ENOMEM || rc == PIER_ETOOBIG) return rc;
  if (rc) return PIER_ENOTFOUND;
  rc = append_value(out, o ? o : f);
  cJSON_Delete(o);
  return rc;
}

int pier_template_render_vars(const cJSON *vars, pier_slice t, pier_buf *out) {
  size_t i = 0;
  while (i < t.len) {
    size_t open = find_pair(t, i, '{');
    int rc = pier_buf_append(out, t.ptr + i, open - i);
    if (rc || open == t.len) return rc;
    size_t close = find_pair(t, open + 2, '}');
    if (close == t.len) return pier_buf_append(out, t.ptr + open, t.len - open);
    pier_slice name = trim_ws(pier_slice_make(t.ptr + open + 2, close - open - 2));
    size_t mark = out->len;
    rc = append_var(vars, name, out);
    if (rc == PIER_ENOTFOUND) {
      out->len = mark; /* drop anything a failed lookup appended */
      rc = pier_buf_append(out, t.ptr + open, close + 2 - open);
    }
    if (rc) return rc;
    i = close + 2;
  }
  return 0;
}

/* ---- config resolution ---- */

static const char *const literal_path_keys[] = {"image_path", "file_path", "storage_path", "output_path"};

bool pier_path_expr_key(pier_slice key, pier_slice *target) {
  static const char suffix[] = "_path";
  size_t sl = sizeof(suffix) - 1;
  if (key.len <= sl || memcmp(key.ptr + key.len - sl, suffix, sl) != 0) return false;
  for (size_t i = 0; i < sizeof(literal_path_keys) / sizeof(literal_path_keys[0]); i++)
    if (pier_slice_eq_cstr(key, literal_path_keys[i])) return false;
  if (target) *target = pier_slice_make(key.ptr, key.len - sl);
  return true;
}

typedef struct rctx {
  const cJSON *ctx;
  msg *m;
  size_t budget;
  char where[512]; /* config key being resolved, for messages: "input.prompt_path" */
  size_t wlen;
} rctx;

static size_t where_grew(rctx *r, size_t mark, int n) {
  size_t room = sizeof(r->where) - mark - 1;
  if (n > 0) r->wlen = mark + ((size_t)n < room ? (size_t)n : room);
  return mark;
}

static void where_pop(rctx *r, size_t mark) {
  r->wlen = mark;
  r->where[mark] = '\0';
}

static size_t push_key(rctx *r, pier_slice key) {
  size_t mark = r->wlen;
  int n = snprintf(r->where + mark, sizeof(r->where) - mark, "%s%.*s", mark ? "." : "", (int)key.len,
                   key.ptr);
  return where_grew(r, mark, n);
}

static size_t push_index(rctx *r, size_t i) {
  size_t mark = r->wlen;
  return where_grew(r, mark, snprintf(r->where + mark, sizeof(r->where) - mark, "[%zu]", i));
}

static int budget_fail(rctx *r, int rc) {
  if (rc == PIER_ETOOBIG)
    msg_add(r->m, "%s: the resolved config is larger than %u bytes", r->where, PIER_PATH_RESULT_BYTES_MAX);
  else if (rc) msg_add(r->m, "out of memory");
  return rc;
}

/* Evaluate into a private message, then prefix it with the config key. */
static int eval_at(rctx *r, pier_slice expr, cJSON **out) {
  char detail[768];
  msg dm = msg_start(detail, sizeof(detail));
  int rc = eval_owned(r->ctx, expr, &r->budget, &dm, out);
  if (rc) msg_add(r->m, "%s: %s", r->where, detail);
  return rc;
}

static int render_at(rctx *r, const char *s, cJSON **out) {
  char detail[768];
  msg dm = msg_start(detail, sizeof(detail));
  pier_buf b;
  pier_buf_init(&b, PIER_PATH_RESULT_BYTES_MAX); /* then charged to the budget */
  int rc = render(r->ctx, pier_slice_from(s), &b, &r->budget, &dm);
  if (!rc) rc = charge(&r->budget, b.len + NODE_COST);
  if (!rc) {
    *out = cJSON_CreateString(b.ptr ? b.ptr : "");
    if (!*out) rc = PIER_ENOMEM;
  }
  pier_buf_dispose(&b);
  if (rc && dm.len) msg_add(r->m, "%s: %s", r->where, detail);
  else if (rc) budget_fail(r, rc);
  return rc;
}

static int copy_at(rctx *r, const cJSON *v, cJSON **out) { return budget_fail(r, copy_node(v, &r->budget, out)); }

/* An empty array or object, charged to the budget. */
static int new_container(rctx *r, bool array, cJSON **out) {
  int rc = charge(&r->budget, NODE_COST);
  if (!rc) {
    *out = array ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!*out) rc = PIER_ENOMEM;
  }
  return budget_fail(r, rc);
}

static bool strings_only(const cJSON *v) {
  if (cJSON_IsString(v)) return true;
  if (!cJSON_IsArray(v)) return false;
  for (const cJSON *el = v->child; el; el = el->next)
    if (!cJSON_IsString(el)) return false;
  return true;
}

/* Target of an expression key (see pier_path_expr_key), judged with its value. */
static bool expr_child(const cJSON *ch, pier_slice *target) {
  return ch->string && pier_path_expr_key(pier_slice_from(ch->string), target) && strings_only(ch);
}

static int cmp_slice(const void *a, const void *b) {
  const pier_slice *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sorted targets of obj's expression keys, so a literal `X` beside `X_path` is found
 * in O(log n) — configs are user input and may be wide. Caller frees. */
static int collect_targets(const cJSON *obj, pier_slice **out, size_t *count) {
  size_t n = 0;
  pier_slice t;
  for (const cJSON *ch = obj->child; ch; ch = ch->next) n += expr_child(ch, &t);
  *out = NULL;
  *count = n;
  if (n == 0) return 0;
  pier_slice *v = malloc(n * sizeof(*v));
  if (!v) return PIER_ENOMEM;
  n = 0;
  for (const cJSON *ch = obj->child; ch; ch = ch->next)
    if (expr_child(ch, &v[n])) n++;
  qsort(v, n, sizeof(*v), cmp_slice);
  *out = v;
  return 0;
}

static int eval_key(rctx *r, const cJSON *ch, cJSON **out) {
  if (cJSON_IsString(ch)) return eval_at(r, pier_slice_from(ch->valuestring), out);
  cJSON *arr = NULL;
  int rc = new_container(r, true, &arr);
  size_t i = 0;
  for (const cJSON *el = ch->child; el && !rc; el = el->next, i++) {
    size_t mark = push_index(r, i);
    cJSON *v = NULL;
    rc = eval_at(r, pier_slice_from(el->valuestring), &v);
    if (!rc && (rc = adopt(arr, NULL, v)) != 0) msg_add(r->m, "out of memory");
    where_pop(r, mark);
  }
  if (rc) cJSON_Delete(arr);
  else *out = arr;
  return rc;
}

static int resolve_value(rctx *r, const cJSON *v, int depth, cJSON **out);

static int resolve_array(rctx *r, const cJSON *v, int depth, cJSON **out) {
  cJSON *arr = NULL;
  int rc = new_container(r, true, &arr);
  size_t i = 0;
  for (const cJSON *el = v->child; el && !rc; el = el->next, i++) {
    size_t mark = push_index(r, i);
    cJSON *c = NULL;
    rc = resolve_value(r, el, depth + 1, &c);
    if (!rc && (rc = adopt(arr, NULL, c)) != 0) msg_add(r->m, "out of memory");
    where_pop(r, mark);
  }
  if (rc) cJSON_Delete(arr);
  else *out = arr;
  return rc;
}

/* One member of an object being resolved; *out stays NULL when it is dropped. */
static int resolve_member(rctx *r, const cJSON *ch, bool top, const pier_slice *targets, size_t nt,
                          int depth, cJSON **out, pier_slice *key) {
  pier_slice name = pier_slice_from(ch->string), target;
  *key = name;
  if (top && pier_slice_eq_cstr(name, "activity")) return copy_at(r, ch, out);
  if (expr_child(ch, &target)) {
    if (top && pier_slice_eq_cstr(target, "activity")) {
      msg_add(r->m, "%s: the activity cannot be a path expression; name it with \"activity\"", r->where);
      return PIER_EINVAL;
    }
    *key = target;
    return eval_key(r, ch, out);
  }
  if (nt && bsearch(&name, targets, nt, sizeof(*targets), cmp_slice)) return 0; /* X_path wins */
  return resolve_value(r, ch, depth + 1, out);
}

static int resolve_object(rctx *r, const cJSON *obj, bool top, int depth, cJSON **out) {
  pier_slice *targets = NULL;
  size_t nt = 0;
  cJSON *res = NULL;
  int rc = collect_targets(obj, &targets, &nt);
  if (rc) msg_add(r->m, "out of memory");
  if (!rc) rc = new_container(r, false, &res);
  for (const cJSON *ch = obj->child; ch && !rc; ch = ch->next) {
    if (!ch->string) continue;
    size_t mark = push_key(r, pier_slice_from(ch->string));
    cJSON *v = NULL;
    pier_slice key;
    rc = resolve_member(r, ch, top, targets, nt, depth, &v, &key);
    if (!rc && v) {
      char *k = pier_slice_dup(key);
      rc = k ? adopt(res, k, v) : (cJSON_Delete(v), PIER_ENOMEM);
      if (rc) msg_add(r->m, "out of memory");
      free(k);
    }
    where_pop(r, mark);
  }
  free(targets);
  if (rc) cJSON_Delete(res);
  else *out = res;
  return rc;
}

static int resolve_value(rctx *r, const cJSON *v, int depth, cJSON **out) {
  if (depth > PIER_PATH_CONFIG_DEPTH_MAX) {
    msg_add(r->m, "%s: the config is nested deeper than %d levels", r->where, PIER_PATH_CONFIG_DEPTH_MAX);
    return PIER_ETOOBIG;
  }
  if (cJSON_IsObject(v)) return resolve_object(r, v, false, depth, out);
  if (cJSON_IsArray(v)) return resolve_array(r, v, depth, out);
  if (cJSON_IsString(v) && strstr(v->valuestring, "{{")) return render_at(r, v->valuestring, out);
  return copy_at(r, v, out);
}

int pier_path_resolve_config(const cJSON *config, const cJSON *ctx, cJSON **resolved, char *err, size_t errlen) {
  msg m = msg_start(err, errlen);
  *resolved = NULL;
  if (!cJSON_IsObject(config)) {
    msg_add(&m, "the step config is %s, not an object", pier_json_type_name(config));
    return PIER_EINVAL;
  }
  rctx r = {.ctx = ctx, .m = &m, .budget = PIER_PATH_RESULT_BYTES_MAX};
  return resolve_object(&r, config, true, 0, resolved);
}
