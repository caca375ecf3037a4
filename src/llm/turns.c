/* turns.c — see turns.h. */
#include "llm/turns.h"

#include "base/json.h"

static int new_turn(pier_turns *t, bool user) {
  const pier_turns_shape *s = t->shape;
  cJSON *turn = cJSON_CreateObject(), *items = NULL;
  const char *role = user ? "user" : s->assistant_role;
  bool ok = turn != NULL;
  if (ok && !s->items_first) ok = cJSON_AddStringToObject(turn, "role", role) != NULL;
  if (ok) ok = (items = cJSON_AddArrayToObject(turn, s->items_key)) != NULL;
  if (ok && s->items_first) ok = cJSON_AddStringToObject(turn, "role", role) != NULL;
  if (!ok || !cJSON_AddItemToArray(t->list, turn)) {
    cJSON_Delete(turn);
    return PIER_ENOMEM;
  }
  t->turn = items;
  t->turn_is_user = user;
  return 0;
}

/* Index of the first block of a turn that is not a tool result. */
static int first_non_result(const pier_turns *t) {
  int k = 0;
  for (const cJSON *c = t->turn->child; c; c = c->next, k++)
    if (!t->shape->is_result(c)) return k;
  return k;
}

int pier_turns_add(pier_turns *t, bool user, cJSON *block) {
  int rc = 0;
  if (!block) return PIER_ENOMEM;
  if (!t->turn && !user) {
    cJSON *ph = t->shape->placeholder();
    if ((rc = new_turn(t, true)) || !ph || !cJSON_AddItemToArray(t->turn, ph)) {
      cJSON_Delete(ph);
      cJSON_Delete(block);
      return rc ? rc : PIER_ENOMEM;
    }
  }
  if ((!t->turn || t->turn_is_user != user) && (rc = new_turn(t, user))) {
    cJSON_Delete(block);
    return rc;
  }
  bool ok;
  int at = first_non_result(t);
  if (user && t->shape->is_result(block) && at < cJSON_GetArraySize(t->turn))
    ok = pier_json_insert_at(t->turn, at, block);
  else
    ok = cJSON_AddItemToArray(t->turn, block);
  if (!ok) cJSON_Delete(block);
  return ok ? 0 : PIER_ENOMEM;
}
