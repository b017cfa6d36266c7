"""Encoders for the server-to-client messages, at server version 178 (spec §7 and §8).

Each encoder returns the message's fields (message id first) so tests can count and decode them;
`framing.encode_message` turns them into bytes.
"""
