"""`simtest/Grasp-v0`: a pybullet Franka Panda picks an object from a table and places it in a bin."""
