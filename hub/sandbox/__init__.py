"""Local emulations of the outside HTTP APIs the hub talks to, over real HTTP on loopback, for the demo and
the tests (`wechat` now). They import nothing of the hub but hub.core."""
