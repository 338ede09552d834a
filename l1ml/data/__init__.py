"""Event data: ADC2021-layout I/O, the synthetic generator and the hardware-unit preprocessing."""
