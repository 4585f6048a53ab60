//! The default mapping: which columns the order table has.

use super::*;

#[test]
fn default_order_table_is_the_users_order_list_query() {
    let mapping = Mapping::default();
    let names: Vec<&str> = mapping.order.column_names().collect();
    assert_eq!(
        names.join(","),
        "id,order_date,shop_status,question_type,shop_id,question_desc,so_id,status,\
         receiver_state,receiver_city,receiver_district,send_date,plan_delivery_date,\
         creator_name,buyer_tax_no,invoice_type,pay_amount,freight,buyer_message,remark,\
         invoice_title,is_cod,type,paid_amount,pay_date,modified,order_from,l_id,shop_name,\
         wms_co_id,logistics_company,free_amount,co_id,pays_status,pays_outer_pay_id,\
         pays_pay_date,pays_amount,pays_payment,pays_buyer_account,pays_is_order_pay,pays_pay_id"
    );
    Mapping::default().validate().unwrap();
}
