import Cortex
