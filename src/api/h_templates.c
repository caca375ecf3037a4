/* h_templates.c — GET /api/v1/step-templates[/{activity}]: what each activity
 * accepts, from the activity registry (no auth, as on Jetty). */
#include <string.h>

#include "api/api.h"
#include "engine/activity.h"

static cJSON *template_json(const pier_activity *a) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "activity_name", a->name);
  cJSON_AddStringToObject(o, "name", a->name);
  cJSON_AddStringToObject(o, "category", a->category ? a->category : "general");
  cJSON_AddStringToObject(o, "description", a->description ? a->description : "");
  cJSON *params = a->params_json ? cJSON_Parse(a->params_json) : NULL;
  cJSON_AddItemToObject(o, "parameters", params ? params : cJSON_CreateObject());
  return o;
}

void pier_h_step_templates(pier_http_req *req) {
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "templates");
  cJSON *cats = cJSON_AddArrayToObject(o, "categories");
  int n = 0;
  for (const pier_activity *const *a = pier_activity_all(); *a; a++, n++) {
    cJSON_AddItemToArray(arr, template_json(*a));
    const char *cat = (*a)->category ? (*a)->category : "general";
    bool seen = false;
    for (cJSON *c = cats->child; c; c = c->next) seen |= strcmp(c->valuestring, cat) == 0;
    if (!seen) cJSON_AddItemToArray(cats, cJSON_CreateString(cat));
  }
  cJSON_AddNumberToObject(o, "total_count", n);
  pier_http_respond_json(req, 200, o);
  cJSON_Delete(o);
}

void pier_h_step_template(pier_http_req *req) {
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)(req->params[0].len < 63 ? req->params[0].len : 63), req->params[0].ptr);
  const pier_activity *a = pier_activity_find(name);
  if (!a) {
    pier_http_respond_error(req, 404, "no activity named \"%s\"; GET /api/v1/step-templates lists them", name);
    return;
  }
  cJSON *o = template_json(a);
  pier_http_respond_json(req, 200, o);
  cJSON_Delete(o);
}
