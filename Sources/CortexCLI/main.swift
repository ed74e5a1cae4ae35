import Cortex

print("cortex")
