"""What `nmt bench` measures: throughput of data, training and translation (`throughput`), and the
QRNN recurrence and layer against their alternatives (`qrnn`, the QRNN paper's Figure 4)."""
