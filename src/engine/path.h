/* path.h — workflow path expressions (`step1.outputs.items[0].name`), `{{ path }}`
 * templates and `X_path` config resolution against a run context.
 * Invariant: the context is only read; every result is a fresh value the caller owns. */
#ifndef PIER_ENGINE_PATH_H
#define PIER_ENGINE_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

/* Caps (kept here until they move to base/limits.h). */
#define PIER_PATH_EXPR_BYTES_MAX 1024   /* one expression, after trimming */
#define PIER_PATH_STEPS_MAX 64          /* keys plus [..] suffixes in one expression */
#define PIER_PATH_FANOUT_MAX 100000     /* elements produced by all [*] of one evaluation */
#define PIER_PATH_RESULT_BYTES_MAX (64u * 1024 * 1024) /* approx. bytes copied per call */
#define PIER_PATH_CONFIG_DEPTH_MAX 64   /* nesting of a step config */

/* Expression grammar (whitespace around the whole expression is trimmed):
 *
 *   expr    = segment *( "." segment )
 *   segment = key *suffix
 *   key     = 1*( any byte except . [ ] " space and control bytes )
 *   suffix  = "[" 1*DIGIT "]"            ; index, 0-based, at most INT_MAX
 *           / "[*]"                      ; fan-out
 *           / "[" quoted "]"             ; key that needs quoting: a["weird.key"]
 *   quoted  = DQUOTE *(char / "\" any) DQUOTE  /  "'" *(char / "\" any) "'"
 *
 * The first segment names a namespace of the context: `init_params`, a step
 * name (`<step>.inputs.*`, `<step>.outputs.*`) or whatever else the engine put
 * there (`env`). Object keys match byte for byte; with duplicate keys the first
 * wins (cJSON's rule).
 *
 * Fan-out follows JMESPath `[*]` projections: everything after a `[*]` is
 * applied to each element and the results are collected in order, so each
 * `[*]` adds one array level — `a[*].b[*].c` is `[[c, c], [c]]`, never flattened.
 * Unlike JMESPath, an element where the rest of the path resolves to nothing is
 * an error naming that element (`"x.outputs.items[1]" has keys name`), so the
 * result always has one entry per element; `[*]` over an empty array is `[]`.
 *
 * Errors (message written to err, always NUL-terminated when errlen > 0):
 *   PIER_EINVAL    malformed: `invalid path "a..b": empty key at byte 2`
 *   PIER_ETOOBIG   a cap above was exceeded
 *   PIER_ENOTFOUND the path resolves to nothing; the message names the path and
 *                  what exists at the deepest point reached:
 *     path "step1.outputs.txt" not found: "step1.outputs" has keys text, usage
 *     path "x.outputs.items[5]" not found: index 5 out of range: "x.outputs.items" has 3 elements
 *     path "init_params.prompt[0]" not found: "init_params.prompt" is a string, cannot index [0]
 *   PIER_ENOMEM */

/* Evaluate expr against ctx (borrowed, must be an object). On success *out is a
 * new value owned by the caller: a deep copy of the node reached, or a fresh
 * array when the expression fans out. On failure *out is NULL. */
int pier_path_eval(const cJSON *ctx, pier_slice expr, cJSON **out, char *err, size_t errlen) PIER_WUR;

/* Syntax check only (no context): 0, PIER_EINVAL or PIER_ETOOBIG. For
 * validating a workflow when a task is saved. */
int pier_path_check(pier_slice expr, char *err, size_t errlen) PIER_WUR;

/* Render a template: each `{{ expr }}` (spaces optional) is replaced by the
 * value of expr in ctx — strings verbatim, everything else (numbers, booleans,
 * null, objects, arrays) as compact JSON. Substitution is one pass: inserted
 * values are never scanned for `{{` again. There is no escape for a literal
 * `{{`. Appends to out (borrowed; its cap applies: PIER_ETOOBIG). Errors:
 * `unclosed "{{" at byte N`, `empty "{{}}" at byte N` (PIER_EINVAL), and any
 * pier_path_eval error, with the same message. On error out may hold a partial
 * rendering; the caller discards it. */
int pier_template_render(const cJSON *ctx, pier_slice tmpl, pier_buf *out, char *err,
                         size_t errlen) PIER_WUR;

/* Runbook `{{var}}` substitution from an object of variables (borrowed; the
 * runbook step's `template_variables`). Lenient by design, because runbooks are
 * prose and code that may contain braces of their own:
 *   - `{{ name }}` is replaced when vars has the key `name` (exactly, after
 *     trimming spaces), else when `name` is a path expression that resolves in
 *     vars (`{{secrets.X}}` with vars {"secrets": {"X": ..}});
 *   - anything else — unknown names, `{{}}`, an unclosed `{{` — is copied as is.
 * Values render as in pier_template_render; one pass. Errors only PIER_ENOMEM
 * and PIER_ETOOBIG (out's cap). */
int pier_template_render_vars(const cJSON *vars, pier_slice tmpl, pier_buf *out) PIER_WUR;

/* The `_path` key rule. A config key K is a path-expression key when
 *   1. K ends in "_path" and is longer than that suffix, and
 *   2. K is not one of the literal storage-key names
 *        image_path  file_path  storage_path  output_path
 *      (these hold storage keys such as "acme/t/0000/x.png"), and
 *   3. its value is a string or an array of strings (checked by
 *      pier_path_resolve_config; any other value is copied as a literal key).
 * The target key is K with exactly one "_path" removed:
 *   prompt_path -> prompt, model_path -> model, items_path -> items,
 *   image_path_path -> image_path, file_path_path -> file_path,
 *   files_path -> files, image_path stays the literal image_path.
 * Returns true and sets *target (a prefix of key) for an expression key name. */
bool pier_path_expr_key(pier_slice key, pier_slice *target);

/* Resolve a step config against ctx. Returns in *resolved a new object (caller
 * owns) where, at any depth of nested objects and arrays of objects:
 *   - every expression key `X_path` (rule above) is replaced by `X` holding the
 *     evaluated value; a value that is an array of path strings becomes an
 *     array of their values, in order; `X_path` wins over a literal `X`, which
 *     is dropped;
 *   - every other string (including literal `image_path`) that contains `{{`
 *     is rendered with pier_template_render and stays a string;
 *   - everything else is copied.
 * Values produced by evaluation are never rendered again. The top-level
 * `activity` is copied verbatim, and a top-level `activity_path` is an error:
 * the activity is chosen before resolution. Errors carry the config key:
 * `input.prompt_path: path "init_params.p" not found: "init_params" has keys
 * prompt`. Codes as pier_path_eval; the whole result is capped at
 * PIER_PATH_RESULT_BYTES_MAX (approximate) and PIER_PATH_CONFIG_DEPTH_MAX. */
int pier_path_resolve_config(const cJSON *config, const cJSON *ctx, cJSON **resolved, char *err,
                        size_t errlen) PIER_WUR;

#endif
