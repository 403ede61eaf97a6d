"""Camera backends: simulated, focal-stack replay and (later) hardware adapters."""
