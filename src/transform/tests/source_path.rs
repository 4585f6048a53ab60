//! Array selectors in a column's source path: the main payment.

use super::*;

#[test]
fn main_payment_is_the_order_pay_else_the_first() {
    let pays = json!([
        {"pay_id": "p1", "amount": "1.00", "is_order_pay": "false", "status": "Cancelled"},
        {"pay_id": "p2", "amount": "2.00", "is_order_pay": "true", "status": "Confirmed",
         "pay_date": "2024-05-01 10:00:00", "payment": "支付宝", "buyer_account": "b@x",
         "outer_pay_id": "T2"},
    ]);
    check(
        order(json!({"pays": pays})),
        &[
            ("pays_pay_id", text("p2")),
            ("pays_amount", dec("2.00")),
            ("pays_status", text("Confirmed")),
            ("pays_is_order_pay", Cell::Bool(true)),
            ("pays_pay_date", dt("2024-05-01 10:00:00")),
            ("pays_payment", text("支付宝")),
            ("pays_buyer_account", text("b@x")),
            ("pays_outer_pay_id", text("T2")),
        ],
    );
    let no_main =
        json!([{"pay_id": "p1", "is_order_pay": false}, {"pay_id": "p2", "is_order_pay": false}]);
    check(
        order(json!({"pays": no_main})),
        &[
            ("pays_pay_id", text("p1")),
            ("pays_is_order_pay", Cell::Bool(false)),
        ],
    );
    check(
        order(json!({"pays": []})),
        &[("pays_pay_id", Cell::Null), ("pays_amount", Cell::Null)],
    );
}
