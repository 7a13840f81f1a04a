"""Reading usage back: windows over the rollup levels and the delivery-usage query."""
