/* common.c — request building and output writing shared by litellm_*, input
 * knobs, image data URLs and the bounded fan-out (see common.h). */
#include "engine/activities/common.h"

#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"

static const char *passthrough[] = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "stop",
                                    "response_format", "tools", "tool_choice", "parallel_tool_calls", "seed",
                                    "reasoning_effort", "top_k", "presence_penalty", "frequency_penalty", NULL};

cJSON *pier_act_chat_request_with(pier_step *s, cJSON *user, char *err, size_t errlen) {
  const cJSON *in = pier_step_inputs(s);
  const char *model = pier_json_str(in, "model");
  if (!model || !model[0]) {
    cJSON_Delete(user);
    snprintf(err, errlen, "model is required (or model_path pointing at one)");
    return NULL;
  }
  cJSON *req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "model", model);
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(in, "messages");
  if (cJSON_IsArray(msgs) && !user) {
    cJSON_AddItemToObject(req, "messages", cJSON_Duplicate(msgs, 1));
  } else {
    cJSON *arr = cJSON_AddArrayToObject(req, "messages");
    const char *sys = pier_json_str(in, "system_prompt");
    if (sys && sys[0]) {
      cJSON *m = cJSON_CreateObject();
      cJSON_AddStringToObject(m, "role", "system");
      cJSON_AddStringToObject(m, "content", sys);
      cJSON_AddItemToArray(arr, m);
    }
    if (!user) {
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "prompt");
      if (!cJSON_IsString(p)) {
        cJSON_Delete(req);
        snprintf(err, errlen, "prompt must be one string (got %s); give prompt or prompt_path, or a messages array",
                 pier_json_type_name(p));
        return NULL;
      }
      user = cJSON_CreateString(p->valuestring);
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddItemToObject(m, "content", user);
    cJSON_AddItemToArray(arr, m);
  }
  for (int i = 0; passthrough[i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, passthrough[i]);
    if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(req, passthrough[i], cJSON_Duplicate(v, 1));
  }
  return req;
}

cJSON *pier_act_chat_request(pier_step *s, char *err, size_t errlen) { return pier_act_chat_request_with(s, NULL, err, errlen); }

void pier_act_put_completion(pier_step *s, const cJSON *completion, const pier_chat_result *res) {
  cJSON *out = pier_step_outputs(s);
  const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0);
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
  const char *text = pier_json_str(msg, "content");
  cJSON_AddStringToObject(out, "text", text ? text : "");
  cJSON_AddStringToObject(out, "content", text ? text : "");
  const cJSON *rf = cJSON_GetObjectItemCaseSensitive(pier_step_inputs(s), "response_format");
  if (rf && text) {
    cJSON *j = cJSON_Parse(text);
    if (j) cJSON_AddItemToObject(out, "json", j);
  }
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
  if (cJSON_IsArray(tc)) cJSON_AddItemToObject(out, "tool_calls", cJSON_Duplicate(tc, 1));
  const char *fr = pier_json_str(choice, "finish_reason");
  cJSON_AddStringToObject(out, "finish_reason", fr ? fr : (res && res->finish_reason ? res->finish_reason : "stop"));
  const char *model = pier_json_str(completion, "model");
  if (model) cJSON_AddStringToObject(out, "model", model);
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(completion, "usage");
  if (usage) cJSON_AddItemToObject(out, "usage", cJSON_Duplicate(usage, 1));
}

/* ---- inputs ------------------------------------------------------------------------- */

int pier_act_int(const cJSON *in, const char *key, int def, int min, int max, int cap, int *out, char *err,
                 size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);
  double d = def;
  bool ok = true;
  if (!v || cJSON_IsNull(v)) {
    *out = def;
    return 0;
  }
  if (cJSON_IsNumber(v)) {
    d = v->valuedouble;
  } else if (cJSON_IsString(v)) {
    unsigned long long u;
    pier_slice t = pier_slice_trim(pier_slice_from(v->valuestring));
    bool neg = t.len && t.ptr[0] == '-';
    if (neg) t = pier_slice_make(t.ptr + 1, t.len - 1);
    ok = pier_slice_to_u64(t, &u) == 0 && u <= (unsigned long long)INT32_MAX;
    d = ok ? (neg ? -(double)u : (double)u) : 0;
  } else {
    ok = false;
  }
  if (!ok || !(d >= min && d <= max) || d != floor(d)) { /* range first: no cast of a huge or NaN value */
    char got[64];
    if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%g", v->valuedouble);
    else if (cJSON_IsString(v)) snprintf(got, sizeof got, "\"%.40s\"", v->valuestring);
    else snprintf(got, sizeof got, "%s", pier_json_type_name(v));
    snprintf(err, errlen, "%s must be an integer from %d to %d (got %s)", key, min, max, got);
    return PIER_EINVAL;
  }
  *out = (int)d;
  if (cap > 0 && *out > cap) *out = cap;
  return 0;
}

int pier_act_bool(const cJSON *in, const char *key, bool def, bool *out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);
  *out = def;
  if (!v || cJSON_IsNull(v)) return 0;
  if (cJSON_IsBool(v)) {
    *out = cJSON_IsTrue(v);
    return 0;
  }
  if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
    *out = v->valuedouble == 1;
    return 0;
  }
  static const char *yes[] = {"true", "yes", "1"}, *no[] = {"false", "no", "0"};
  pier_slice t = cJSON_IsString(v) ? pier_slice_trim(pier_slice_from(v->valuestring)) : PIER_SLICE_NULL;
  for (int i = 0; t.ptr && i < 3; i++) {
    if (pier_slice_ieq_cstr(t, yes[i]) || pier_slice_ieq_cstr(t, no[i])) {
      *out = pier_slice_ieq_cstr(t, yes[i]);
      return 0;
    }
  }
  snprintf(err, errlen, "%s must be true or false (got %s)", key, pier_json_type_name(v));
  return PIER_EINVAL;
}

const cJSON *pier_act_first(const cJSON *in, const char *const *keys, const char **which) {
  for (int i = 0; keys[i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, keys[i]);
    if (v && !cJSON_IsNull(v)) {
      if (which) *which = keys[i];
      return v;
    }
  }
  if (which) *which = keys[0];
  return NULL;
}

const char *pier_act_str(const cJSON *in, const char *key) {
  const char *v = pier_json_str(in, key);
  return v && v[0] ? v : NULL;
}

const cJSON *pier_act_raw_config(pier_step *s) { return pier_step_config(s); }
bool pier_act_stopping(pier_step *s) { return pier_step_stopping(s); }

/* ---- images ------------------------------------------------------------------------- */

bool pier_act_image_name(const char *path) {
  static const char *ext[] = {".png", ".jpg", ".jpeg", ".gif", ".webp", NULL};
  const char *dot = path ? strrchr(path, '.') : NULL;
  for (int i = 0; dot && ext[i]; i++)
    if (strcasecmp(dot, ext[i]) == 0) return true;
  return false;
}

static const char *sniff_image(pier_slice b) {
  const unsigned char *p = (const unsigned char *)b.ptr;
  if (b.len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
  if (b.len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return "image/jpeg";
  if (b.len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "image/gif";
  if (b.len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "image/webp";
  return NULL;
}

char *pier_act_image_data_url(pier_slice bytes, const char *content_type, char *err, size_t errlen) {
  const char *type = sniff_image(bytes);
  if (!type && content_type && strncmp(content_type, "image/", 6) == 0) type = content_type;
  if (!type) {
    snprintf(err, errlen, "is not an image (%s); give a .png, .jpg, .gif or .webp file",
             content_type ? content_type : "unknown type");
    return NULL;
  }
  if (bytes.len == 0) {
    snprintf(err, errlen, "is empty");
    return NULL;
  }
  size_t head = strlen("data:;base64,") + strlen(type);
  size_t b64 = sodium_base64_encoded_len(bytes.len, sodium_base64_VARIANT_ORIGINAL);
  char *s = malloc(head + b64);
  if (!s) {
    snprintf(err, errlen, "could not be encoded (out of memory)");
    return NULL;
  }
  snprintf(s, head + 1, "data:%s;base64,", type);
  sodium_bin2base64(s + head, b64, (const unsigned char *)bytes.ptr, bytes.len, sodium_base64_VARIANT_ORIGINAL);
  return s;
}

void pier_act_read_error(pier_step *s, int rc, const char *what, const char *path, char *err, size_t errlen) {
  const char *col = pier_step_collection(s);
  if (rc == PIER_EINVAL)
    snprintf(err, errlen,
             "%s \"%.300s\" is not a storage path of collection \"%s\" (expected \"%s/...\", e.g. the value of "
             "init_params.file_paths[0])%s",
             what, path, col, col,
             strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0 ? "; for a URL use image_url" : "");
  else if (rc == PIER_ENOTFOUND)
    snprintf(err, errlen, "%s \"%.300s\" was not found in storage; upload it with the run (multipart files) and "
             "pass init_params.file_paths[...]", what, path);
  else if (rc == PIER_ETOOBIG)
    snprintf(err, errlen, "%s \"%.300s\" is larger than 3.75 MB (the per-image limit); resize or recompress it",
             what, path);
  else
    snprintf(err, errlen, "%s \"%.300s\" could not be read: %s", what, path, pier_strerror(rc));
}

/* ---- bounded fan-out ---------------------------------------------------------------- */

bool pier_act_fan_next(pier_act_fan *f, pier_step *s) {
  if (f->pumping) return false; /* a completion from inside launch: the loop below goes on */
  f->pumping = true;
  while (!f->abort && f->next < f->n && f->running < f->max) {
    int i = f->next++;
    f->running++;
    if (f->launch(s, i) != 0) f->running--;
  }
  f->pumping = false;
  return f->abort || (f->running == 0 && f->next == f->n);
}

void pier_act_chat_done(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion) {
  (void)arg;
  if (!completion) {
    pier_step_fail(s, "%s", res->error.message);
    return;
  }
  pier_act_put_completion(s, completion, res);
  pier_step_done(s);
}
