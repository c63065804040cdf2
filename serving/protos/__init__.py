"""Generated protocol buffers of the ranking service (see ranking.proto, generate.sh)."""
