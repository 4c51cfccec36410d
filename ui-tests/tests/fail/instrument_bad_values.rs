//! Arguments with values of the wrong kind or out of range.

#[tsmon::instrument(name = 3)]
fn name_not_a_string() {}

#[tsmon::instrument(name = "")]
fn empty_name() {}

#[tsmon::instrument(prefix = "rpc//calls")]
fn bad_prefix() {}

#[tsmon::instrument(prefix = "9rpc")]
fn prefix_starting_with_a_digit() {}

#[tsmon::instrument(calls = yes)]
fn flag_not_a_bool() {}

#[tsmon::instrument(classify = 3)]
fn classify_not_a_path() {}

#[tsmon::instrument(prefix = "rpc/b", bucketer = exponential(2.0, 10))]
fn unknown_bucketer() {}

#[tsmon::instrument(prefix = "rpc/c", bucketer = geometric(0.5, 10))]
fn shrinking_bucketer() {}

#[tsmon::instrument(prefix = "rpc/d", fields(outcome = "x"))]
fn field_set_by_tsmon() {}

#[tsmon::instrument(prefix = "rpc/e", fields(service_name = "x"))]
fn reserved_field() {}

#[tsmon::instrument(prefix = "rpc/f", fields(ratio = 1.5))]
fn float_field() {}

#[tsmon::instrument(prefix = "rpc/g", fields(a = "x", a = "y"))]
fn repeated_field() {}

#[tsmon::instrument(calls = false, latency = false, in_flight = false)]
fn nothing_to_record() {}

fn main() {}
