//! Extra fields and a bucketer change the metrics' shape: they need their own prefix.

#[tsmon::instrument(fields(service = "cart"))]
fn fields_without_prefix() {}

#[tsmon::instrument(bucketer = geometric(2.0, 10))]
fn bucketer_without_prefix() {}

fn main() {}
