#!/usr/bin/env python3
"""Isolates the two ~40 ms stalls seen in bench/client's forced-wake numbers (Nagle's algorithm
meeting delayed ACKs on loopback), against a running deskbell-server, with a raw websocket:

1. CONNECT ack -> `company-1-sync`: the server writes them as two small frames on a socket
   without TCP_NODELAY; the second waits for the client's (delayed) ACK of the first. Shown with
   the client ACKing normally, then with TCP_QUICKACK (ACK at once).
2. DISCONNECT + websocket close frame -> the server's close reply: the client writes two small
   frames; without TCP_NODELAY (as `WsTransport`, via `tokio_tungstenite::connect_async`) the
   second waits for the server's delayed ACK.

    target/release/deskbell-server demo --bind 127.0.0.1:18777 --data-dir /tmp/nagle-data --writes-per-minute 0 &
    python3 bench/client/nagle-check.py [port]
"""
import socket, os, base64, json, time, struct, urllib.request, statistics, sys
PORT=int(sys.argv[1]) if len(sys.argv) > 1 else 18777
tok=json.loads(urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{PORT}/api/auth/login",
    data=json.dumps({"email":"admin@acme.test","password":"deskbell-demo"}).encode(),
    headers={"content-type":"application/json"})).read())["accessToken"]

def frame(text, opcode=1):
    payload=text.encode() if isinstance(text,str) else text
    mask=os.urandom(4); n=len(payload)
    hdr=bytes([0x80|opcode])
    hdr+= bytes([0x80|n]) if n<126 else bytes([0x80|126])+struct.pack(">H",n)
    return hdr+mask+bytes(b^mask[i%4] for i,b in enumerate(payload))

class WS:
    def __init__(s, quickack=False, nodelay=False):
        s.q=quickack; s.sock=socket.create_connection(("127.0.0.1",PORT))
        if nodelay: s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key=base64.b64encode(os.urandom(16)).decode()
        s.sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        s.buf=b""
        while b"\r\n\r\n" not in s.buf: s.buf+=s.recv()
        s.buf=s.buf.split(b"\r\n\r\n",1)[1]
    def recv(s):
        if s.q: s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        d=s.sock.recv(65536)
        if s.q: s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return d
    def next(s):
        while True:
            if len(s.buf)>=2:
                op=s.buf[0]&0xf; n=s.buf[1]&0x7f; off=2
                if n==126: n=struct.unpack(">H",s.buf[2:4])[0]; off=4
                elif n==127: n=struct.unpack(">Q",s.buf[2:10])[0]; off=10
                if len(s.buf)>=off+n:
                    p=s.buf[off:off+n]; s.buf=s.buf[off+n:]; return op,p
            d=s.recv()
            if not d: return None,b""
            s.buf+=d

def connect_gap(quickack):
    w=WS(quickack=quickack, nodelay=True)
    w.next()  # open
    w.sock.sendall(frame("40/workspace-1,"+json.dumps({"token":tok})))
    t_ack=None
    while True:
        op,p=w.next(); t=time.perf_counter(); p=p.decode()
        if p.startswith("40/workspace-1,"): t_ack=t
        if p.startswith('42/workspace-1,["company-1-sync"'): break
    return w,(t-t_ack)*1e3

def close_time(w, nodelay):
    w.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if nodelay else 0)
    # let the connection settle into delayed-ACK mode with a ping/pong-free idle moment
    time.sleep(0.3)
    t0=time.perf_counter()
    w.sock.send(frame("41/workspace-1"))       # DISCONNECT, then the close frame: two small writes
    w.sock.send(frame(struct.pack(">H",1000),opcode=8))
    while True:
        op,p=w.next()
        if op==8 or op is None: break
    return (time.perf_counter()-t0)*1e3

for label,qa in (("server Nagle, client delayed ACK (as WsTransport)",False),("client TCP_QUICKACK (ACKs at once)",True)):
    gaps=[]
    for _ in range(15):
        w,g=connect_gap(qa); gaps.append(g); w.sock.close()
    print(f"CONNECT ack -> sync event gap, {label}: median {statistics.median(gaps):.1f} ms  {[round(x,1) for x in gaps]}")
for nd in (False,True):
    cs=[]
    for _ in range(15):
        w,_=connect_gap(True); cs.append(close_time(w,nd)); w.sock.close()
    print(f"DISCONNECT + close frame -> server close reply, client TCP_NODELAY={nd}: median {statistics.median(cs):.1f} ms {[round(x,1) for x in cs]}")
