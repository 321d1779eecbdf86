// The end-to-end test's traffic: every rpc of user.v1.UserService and order.v1.OrderService,
// called by buf curl as an outside client would, each answer checked against API.md.
#pragma once

#include "tests/e2e/buf_curl.h"

namespace hermes::testing {

// As `admin`: CreateUser (twice), GetUser, ListUsers, UpdateUser, WatchUsers (the retained events
// replayed, then bounded by buf's --timeout), CreateOrder, GetOrder, ListOrders,
// UploadOrderEvents (PENDING -> CONFIRMED -> SHIPPED), StreamOrderUpdates (subscribe, then
// half-close), CancelOrder and DeleteUser. Then, on each service, one call that the policy
// refuses `client` (PERMISSION_DENIED) and one unknown id (NOT_FOUND).
// Reports with GoogleTest assertions: call it inside a test and check HasFailure() after.
void DriveEveryRpc(int user_port, int order_port, const BufCurl& admin, const BufCurl& client);

}  // namespace hermes::testing
