/* text_template.c — outputs.text = `template` with each {{var}} replaced from
 * `variables` (an object; Jetty's legacy form is user_prompt_template +
 * user_prompt_params). A {{name}} matches a key of variables exactly, else a
 * path into them ({{user.name}}, {{items[0]}}); strings go in verbatim, other
 * values as compact JSON; one pass, so inserted values are never re-expanded.
 * A placeholder with no value fails the step, naming every such placeholder,
 * unless `strict` is false (then it is left as written). `{{}}` and an
 * unclosed `{{` are ordinary text.
 *
 * Two renderings meet here. The engine renders `{{ path }}` in every literal
 * string of the config against the run (init_params, earlier steps, env)
 * before start(), and fails the step when a path does not resolve. So:
 *   - a literal template may use run paths directly: "Hi {{ init_params.name }}";
 *   - a literal template cannot use variables: the engine sees "{{name}}"
 *     first and fails with `template: path "name" not found`. Give such a
 *     template through a path (template_path: "init_params.template"); values
 *     produced by a path are never rendered by the engine;
 *   - variables themselves may come from the run: variables_path, or
 *     {"name_path": "init_params.user"} inside variables, or "{{ x.outputs.y }}"
 *     values, all resolved before start(). */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"
#include "engine/path.h"

#define TEXT_BYTES_MAX (16u * 1024 * 1024)

static pier_slice trim(pier_slice s) {
  while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t' || s.ptr[0] == '\n' || s.ptr[0] == '\r')) s.ptr++, s.len--;
  while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' || s.ptr[s.len - 1] == '\n' ||
                   s.ptr[s.len - 1] == '\r'))
    s.len--;
  return s;
}

/* Whether {{name}} has a value in vars, as pier_template_render_vars decides. */
static bool has_var(const cJSON *vars, pier_slice name) {
  for (const cJSON *v = vars->child; v; v = v->next)
    if (v->string && pier_slice_eq_cstr(name, v->string)) return true;
  cJSON *out = NULL;
  char err[8];
  bool ok = pier_path_eval(vars, name, &out, err, sizeof err) == 0;
  cJSON_Delete(out);
  return ok;
}

/* Index of the first "cc" at or after from, or t.len (as the engine's renderer scans). */
static size_t find_pair(pier_slice t, size_t from, char c) {
  for (size_t i = from; i + 1 < t.len; i++)
    if (t.ptr[i] == c && t.ptr[i + 1] == c) return i;
  return t.len;
}

/* Every {{name}} of t without a value, as "{{a}}, {{b}}" into missing; count returned. */
static int find_missing(const cJSON *vars, pier_slice t, pier_buf *missing) {
  int n = 0;
  for (size_t i = 0; i < t.len;) {
    size_t o = find_pair(t, i, '{');
    if (o == t.len) break;
    size_t c = find_pair(t, o + 2, '}');
    if (c == t.len) break;
    pier_slice name = trim(pier_slice_make(t.ptr + o + 2, c - o - 2));
    if (name.len && !has_var(vars, name)) {
      if (n++ < 20 && pier_buf_appendf(missing, "%s{{%.*s}}", n > 1 ? ", " : "", (int)(name.len > 80 ? 80 : name.len),
                                       name.ptr))
        break;
    }
    i = c + 2;
  }
  return n;
}

static void keys_of(const cJSON *vars, char *out, size_t cap) {
  size_t len = 0;
  out[0] = '\0';
  for (const cJSON *v = vars->child; v && len + 1 < cap; v = v->next) {
    int w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", v->string ? v->string : "");
    if (w < 0) break;
    len += (size_t)w;
  }
  if (!vars->child) snprintf(out, cap, "(none)");
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  static const char *const tkeys[] = {"template", "user_prompt_template", NULL};
  static const char *const vkeys[] = {"variables", "user_prompt_params", NULL};
  const char *tkey, *vkey;
  const cJSON *t = pier_act_first(in, tkeys, &tkey), *vars = pier_act_first(in, vkeys, &vkey);
  char err[512];
  bool strict;
  if (!cJSON_IsString(t)) {
    pier_step_fail(s, "template must be a string (got %s); give template or template_path", pier_json_type_name(t));
    return;
  }
  if (vars && !cJSON_IsObject(vars)) {
    pier_step_fail(s, "%s must be an object of name -> value (got %s)", vkey, pier_json_type_name(vars));
    return;
  }
  if (pier_act_bool(in, "strict", true, &strict, err, sizeof err)) {
    pier_step_fail(s, "%s", err);
    return;
  }
  cJSON *empty = vars ? NULL : cJSON_CreateObject();
  if (!vars) vars = empty;
  pier_slice tmpl = pier_slice_from(t->valuestring);
  pier_buf out, missing;
  pier_buf_init(&out, TEXT_BYTES_MAX);
  pier_buf_init(&missing, 4096);
  int nmissing = strict ? find_missing(vars, tmpl, &missing) : 0;
  int rc = nmissing ? 0 : pier_template_render_vars(vars, tmpl, &out);
  if (nmissing) {
    char keys[300];
    keys_of(vars, keys, sizeof keys);
    pier_step_fail(s, "%s has %d placeholder%s with no value in %s: %s (%s has keys %s); add them to %s or set "
                      "strict: false to leave them as written",
                   tkey, nmissing, nmissing > 1 ? "s" : "", vkey, missing.ptr, vkey, keys, vkey);
  } else if (rc) {
    pier_step_fail(s, "%s", rc == PIER_ETOOBIG ? "the rendered text is larger than 16 MB" : "out of memory");
  } else {
    cJSON_AddStringToObject(pier_step_outputs(s), "text", out.ptr ? out.ptr : "");
    pier_step_done(s);
  }
  pier_buf_dispose(&out);
  pier_buf_dispose(&missing);
  cJSON_Delete(empty);
}

const pier_activity pier_act_text_template = {
    .name = "text_template",
    .category = "text",
    .description = "Fill {{var}} placeholders of a template from variables: outputs.text.",
    .params_json = "{\"template\":{\"type\":\"string\",\"required\":true,\"description\":\"text with {{var}} "
                   "placeholders; give it via template_path when it uses variables (literal strings are rendered "
                   "against the run first)\"},"
                   "\"variables\":{\"type\":\"object\",\"description\":\"name -> value (legacy: user_prompt_params "
                   "with user_prompt_template)\"},"
                   "\"strict\":{\"type\":\"boolean\",\"description\":\"fail on placeholders with no value (default "
                   "true); false leaves them as written\"}}",
    .start = start,
};
