SELECT queue, channel, envelope FROM messages ORDER BY seq
