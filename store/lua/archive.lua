-- Replace an archived declaration by its stub, once its line is safely in the archive
-- file: the record's fields but the large ones (body, verdict, error) stay, with where
-- the line is; the trail, the body, the verdict, the document and the allocation records go. Refused
-- if the declaration changed since it was read for the archive (its status or its audit
-- head), so that a line never stands for a declaration that moved on; a second call
-- finds the stub.
-- Roles: decl (the declaration hash), audit, body, verdict, doc, alloc, allocreq.
-- PAYLOAD = {status (read), head (audit head read), file (relative), offset, at
--            (archived at, RFC 3339), drop (the hash's fields that leave)}
local state = redis.call('HMGET', key('decl'), 'status', 'audit_head', 'archive')
if not state[1] then return 'missing' end
if state[3] then return 'archived' end
if state[1] ~= PAYLOAD.status or state[2] ~= PAYLOAD.head then return 'changed' end
local all = redis.call('HGETALL', key('decl'))
local drop = {}
for _, name in ipairs(PAYLOAD.drop) do drop[name] = true end
local stub = {'archive', PAYLOAD.file, 'archive_offset', PAYLOAD.offset, 'archived_at', PAYLOAD.at}
for i = 1, #all, 2 do
  if not drop[all[i]] then
    table.insert(stub, all[i])
    table.insert(stub, all[i + 1])
  end
end
-- a fresh hash: the small encoding again, where the old one had grown past it
redis.call('DEL', key('decl'), key('audit'), key('body'), key('verdict'), key('doc'), key('alloc'),
  key('allocreq'))
redis.call('HSET', key('decl'), unpack(stub))
return 'ok'
