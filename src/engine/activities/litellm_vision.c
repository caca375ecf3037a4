/* litellm_vision.c — one chat completion about one image: `prompt` plus an
 * image from storage (`image_path`, read off the loop, at most 3.75 MB, sent
 * as a data URL typed from the file's bytes) or `image_url` (an http(s) URL or
 * a data URL, passed through). Outputs as litellm_chat: text, content,
 * finish_reason, model, usage. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"

/* [{"type":"text","text":prompt},{"type":"image_url","image_url":{"url":url}}] to the model. */
static void ask(pier_step *s, const char *url) {
  char err[512];
  cJSON *content = cJSON_CreateArray(), *text = cJSON_CreateObject(), *img = cJSON_CreateObject();
  cJSON_AddStringToObject(text, "type", "text");
  cJSON_AddStringToObject(text, "text", pier_json_str(pier_step_inputs(s), "prompt"));
  cJSON_AddItemToArray(content, text);
  cJSON_AddStringToObject(img, "type", "image_url");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(img, "image_url"), "url", url);
  cJSON_AddItemToArray(content, img);
  cJSON *req = pier_act_chat_request_with(s, content, err, sizeof err);
  if (!req) {
    pier_step_fail(s, "%s", err);
    return;
  }
  if (pier_step_chat(s, req, pier_act_chat_done, NULL) != 0) pier_step_fail(s, "could not start the model call");
}

static void on_image(pier_step *s, void *arg, int rc, pier_slice bytes, const char *content_type) {
  const char *path = arg; /* in the step's inputs */
  char err[700], why[300];
  if (rc) {
    pier_act_read_error(s, rc, "image_path", path, err, sizeof err);
    pier_step_fail(s, "%s", err);
    return;
  }
  char *url = pier_act_image_data_url(bytes, content_type, why, sizeof why);
  if (!url) {
    pier_step_fail(s, "image_path \"%.300s\" %s", path, why);
    return;
  }
  ask(s, url);
  free(url);
}

/* image_path: one storage path (a one-element array, e.g. a whole file_paths, is taken too). */
static const char *image_path_of(const cJSON *v, char *err, size_t errlen) {
  if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) v = v->child;
  if (cJSON_IsString(v) && v->valuestring[0]) return v->valuestring;
  if (cJSON_IsArray(v))
    snprintf(err, errlen, "image_path must be one storage path (got an array of %d); pick one, e.g. "
             "image_path_path: \"init_params.file_paths[0]\"", cJSON_GetArraySize(v));
  else
    snprintf(err, errlen, "image_path must be a storage path string (got %s)", pier_json_type_name(v));
  return NULL;
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "prompt");
  const cJSON *ip = cJSON_GetObjectItemCaseSensitive(in, "image_path");
  const char *url = pier_act_str(in, "image_url");
  char err[512];
  if (!pier_act_str(in, "model")) {
    pier_step_fail(s, "model is required (or model_path pointing at one)");
    return;
  }
  if (!cJSON_IsString(p)) {
    pier_step_fail(s, "prompt must be one string (got %s); give prompt or prompt_path", pier_json_type_name(p));
    return;
  }
  if (cJSON_IsString(ip) && !ip->valuestring[0]) ip = NULL; /* "" = not given */
  if (ip && cJSON_IsNull(ip)) ip = NULL;
  if (ip && url) {
    pier_step_fail(s, "give either image_path (a stored file) or image_url, not both");
    return;
  }
  if (!ip && !url) {
    pier_step_fail(s, "an image is required: image_path (a storage path, e.g. image_path_path: "
                      "\"init_params.file_paths[0]\") or image_url (http(s) or data: URL)");
    return;
  }
  if (url) {
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8) && strncmp(url, "data:", 5)) {
      pier_step_fail(s, "image_url must be an http(s) URL or a data URL (data:image/png;base64,...), got \"%.200s\"; "
                        "for a stored file use image_path", url);
      return;
    }
    ask(s, url);
    return;
  }
  const char *path = image_path_of(ip, err, sizeof err);
  if (!path) {
    pier_step_fail(s, "%s", err);
    return;
  }
  int rc = pier_step_read_file(s, path, PIER_ACT_IMAGE_BYTES_MAX, on_image, (void *)path);
  if (rc) {
    pier_act_read_error(s, rc, "image_path", path, err, sizeof err);
    pier_step_fail(s, "%s", err);
  }
}

const pier_activity pier_act_litellm_vision = {
    .name = "litellm_vision",
    .category = "ai",
    .description = "Ask a vision model about one image (a stored file or a URL): outputs.text.",
    .params_json = "{" PIER_ACT_CHAT_PARAMS_BODY
                   ",\"image_path\":{\"type\":\"string\",\"description\":\"storage path of the image, e.g. via "
                   "image_path_path: init_params.file_paths[0]; .png .jpg .gif .webp, at most 3.75 MB\"},"
                   "\"image_url\":{\"type\":\"string\",\"description\":\"http(s) or data: URL of the image\"}}",
    .start = start,
};
