using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using OspBridge.Net.Core;
using static OspBridge.Net.IO.LinuxSocketInterop;

namespace OspBridge.Net.IO;

/// <summary>
/// The Linux <see cref="IDatagramSocket"/>: <c>recvmmsg</c>/<c>sendmmsg</c> move a whole
/// <see cref="DatagramBatch"/> per system call; runs of equal-size datagrams to one destination leave as
/// one UDP GSO send (<c>UDP_SEGMENT</c>); with <c>UDP_GRO</c> the kernel hands over coalesced segments,
/// which the batch takes where they lie (the receive arena is lent to it, no copy into slots); destination address and interface come from
/// <c>IP_PKTINFO</c>/<c>IPV6_PKTINFO</c> control messages, and a send's <see cref="DatagramPath.InterfaceIndex"/>
/// (and a specific <see cref="DatagramPath.Local"/> source) goes out as pktinfo too, so sending out of a
/// chosen interface needs no socket-option change. When the kernel reports <c>ENOSYS</c>/<c>EINVAL</c> for
/// the batched calls the socket carries on through the portable <see cref="UdpDatagramSocket"/> code on the
/// same OS socket; when it refuses GSO (<c>EIO</c>, <c>EMSGSIZE</c>, <c>EINVAL</c> on a segmented send) it sends
/// those datagrams one by one and stops segmenting.
/// </summary>
/// <remarks>
/// One receiver at a time (a <see cref="DatagramReceiver"/>); <see cref="Send(DatagramBatch)"/> may be
/// called from several loops at once (per-thread scratch buffers). Waiting for data is an edge-triggered
/// registration with the process-wide <see cref="EpollReadiness"/> thread (no system call per wait; set
/// <c>OSPBRIDGE_UDP_WAIT=peek</c> for the old awaited zero-byte <c>MSG_PEEK</c> receive, e.g. to compare). A send that finds the OS buffer
/// full waits at most ~20 ms for room, then drops the rest, as UDP may.
/// </remarks>
internal sealed class BatchedUdpSocket : IDatagramSocket
{
    private const int NameStride = 32;            // sockaddr_in6 is 28 bytes
    private const int RecvControlStride = 128;    // pktinfo (40) + UDP_GRO (24) with room to spare
    private const int SendControlStride = 64;     // pktinfo (40) + UDP_SEGMENT (24)
    private const int StagingSlot = 65_536;       // one coalesced GRO receive
    private const int StagingCount = 16;
    // Issue 14 (session 17): regions per GRO arena (64 KiB each; every arena the same size, one size on the socket's list):
    // 16 (1 MiB), so a receive may take as many messages as before. Receives share an arena (a receive takes only the
    // regions it fills, the next carries on after them) and start over at region 0 whenever no batch holds any part of it,
    // so a receiver that copies its datagrams out (DatagramReceiver) always gets all 16 regions, and one that hands
    // batches on (QUIC) puts several small receives into one arena. A smaller arena (4 regions) was tried: a new high of
    // arenas in flight cost 256 KiB instead of 1 MiB, but a backed-up socket of uncoalesced datagrams then needed a
    // recvmmsg per 4 of them. OSPBRIDGE_GRO_ARENA_REGIONS=1..16 for A/B.
    private static readonly int ArenaRegions = Environment.GetEnvironmentVariable("OSPBRIDGE_GRO_ARENA_REGIONS") is { } r && int.TryParse(r, out int ar) && ar is >= 1 and <= StagingCount ? ar : StagingCount;
    private static readonly int ArenaBytes = StagingSlot * ArenaRegions;

    private readonly Socket _socket;
    private readonly UdpDatagramSocket _portable;
    private readonly bool _v4;
    private readonly bool _gro;
    private volatile bool _receiveFallback;
    private volatile bool _sendFallback;
    private volatile bool _gso;
    private int _receiving;
    private readonly EpollReadiness.Registration? _readiness;

    // Receive state (one receiver at a time).
    private MMsgHdr[] _recvMsgs = [];
    private IoVec[] _recvIov = [];
    private byte[] _recvNames = [];
    private byte[] _recvControl = [];
    private SharedArena? _staging;            // GRO: the arena receives go into (the socket's reference; batches add theirs)
    private int _stagingNext;                 // GRO: its first region (of ArenaRegions) not received into yet
    private readonly ArenaList _arenas = new(); // GRO: free arenas (the last batch to release one gives it back here)
    private int _segmentsPerMessage = 1;      // GRO: datagrams per coalesced receive, as last seen (sizes the next request)
    private readonly byte[] _lastRemoteName = new byte[NameStride];
    private int _lastRemoteNameLength;
    private IPEndPoint? _lastRemote;
    private readonly byte[] _lastLocalAddress = new byte[16];
    private IPEndPoint? _lastLocal;

    [ThreadStatic] private static SendScratch? _threadScratch;

    private BatchedUdpSocket(Socket socket, bool packetInfo, bool gro, bool gso, bool receiveOnIoThread)
    {
        _socket = socket;
        _portable = UdpDatagramSocket.Wrap(socket, packetInfo);
        _v4 = socket.AddressFamily == AddressFamily.InterNetwork;
        _gro = gro;
        _gso = gso;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        if (Environment.GetEnvironmentVariable("OSPBRIDGE_UDP_WAIT") != "peek")
            _readiness = EpollReadiness.TryRegister((int)socket.SafeHandle.DangerousGetHandle(), receiveOnIoThread && !InlineOff);
    }

    private static readonly bool InlineOff = Environment.GetEnvironmentVariable("OSPBRIDGE_UDP_INLINE") == "0";

    /// <summary>True while the socket holds a GRO arena for its next receive (only between a receive and the next wait; tests).</summary>
    internal bool HoldsStaging => _staging is not null;

    /// <summary>True when waits go through <see cref="EpollReadiness"/> (false: the zero-byte peek).</summary>
    internal bool UsesEpollReadiness => _readiness is not null;

    /// <summary>True on 64-bit Linux, where the structures match.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && LayoutOk;

    /// <summary>Opens and binds a batched socket (GRO enabled when <see cref="UdpSocketOptions.Offload"/> and the kernel has it).</summary>
    public static BatchedUdpSocket Open(UdpSocketOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!IsSupported) throw new PlatformNotSupportedException("batched UDP needs 64-bit Linux");
        var s = UdpDatagramSocket.CreateSocket(options);
        bool gro = false;
        if (options.Offload)
        {
            try
            {
                s.SetRawSocketOption(SOL_UDP, UDP_GRO, BitConverter.GetBytes(1));
                gro = true;
            }
            catch (SocketException)
            {
                // kernel without UDP_GRO (< 5.0): plain datagrams
            }
        }
        return new BatchedUdpSocket(s, options.ReceivePacketInfo || options.MulticastGroup is not null, gro, options.Offload, options.ReceiveOnIoThread);
    }

    /// <inheritdoc/>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The underlying socket (for options this type does not cover).</summary>
    public Socket Socket => _socket;

    /// <summary>True while receives coalesce with UDP GRO.</summary>
    internal bool GroEnabled => _gro && !_receiveFallback;

    /// <summary>True while sends may segment with UDP GSO.</summary>
    internal bool GsoEnabled => _gso && !_sendFallback;

    /// <summary>True once the socket fell back to the portable receive path.</summary>
    internal bool ReceiveFellBack => _receiveFallback;

    /// <summary>True once the socket fell back to the portable send path.</summary>
    internal bool SendFellBack => _sendFallback;

    /// <summary>System calls made by <see cref="Send(DatagramBatch)"/> (sendmmsg).</summary>
    internal long SendCalls;

    /// <summary>GSO sends (one message carrying several datagrams).</summary>
    internal long GsoMessages;

    /// <summary>recvmmsg calls that returned data.</summary>
    internal long ReceiveCalls;

    /// <summary>Received messages that carried more than one GRO segment.</summary>
    internal long GroMessages;

    /// <summary>GRO segments dropped because one receive carried more than <see cref="DatagramBatch.MaxArenaDatagrams"/> (never seen from a real kernel).</summary>
    internal long GroSegmentsDropped;

    /// <summary>Datagrams dropped on send (OS buffer full for too long, unreachable, too big).</summary>
    internal long SendDrops;

    // ---------------------------------------------------------------- receive

    /// <inheritdoc/>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReceiveAsync(DatagramBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (Interlocked.Exchange(ref _receiving, 1) != 0) throw new InvalidOperationException("one receiver at a time");
        try
        {
            batch.Clear();
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (_receiveFallback) return await _portable.ReceiveAsync(batch, cancellationToken).ConfigureAwait(false);
                // The sequence is read before draining: a datagram arriving after this point wakes the wait below.
                int sequence = _readiness?.Sequence ?? 0;
                int n = ReceiveReady(batch);
                if (n > 0) return n;
                if (_receiveFallback) continue;
                ReleaseIdleBuffers(batch);
                if (_readiness is { } readiness)
                    await readiness.WaitAsync(sequence, cancellationToken).ConfigureAwait(false);
                else // wait for readability without consuming anything: a zero-byte peek (epoll in the runtime)
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _receiving, 0);
        }
    }

    /// <summary>Fills <paramref name="batch"/> with what is ready now (no waiting); the count.</summary>
    private unsafe int ReceiveReady(DatagramBatch batch)
    {
        bool addRef = false;
        var handle = _socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref addRef);
            int fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                int count = _gro ? GroMessagesWanted(batch) : batch.Capacity - batch.Count;
                if (_gro)
                {
                    // Issue 14 (session 17): a receive takes only the regions it needs; the next one carries on in the
                    // same arena (shared by reference count), so a run of small receives — 1–3 datagrams of 64 KiB, or
                    // a few ACKs — does not hold a whole 1 MiB arena each while their batches wait for the loop.
                    _staging ??= _arenas.Resume(out _stagingNext);
                    // Only the socket holds it (every batch that held a region released it; only this thread adds
                    // references): start over at region 0. Else, when it has no free region (or there is none), a new one.
                    if (_staging is not null && _staging.References == 1) _stagingNext = 0;
                    else if (_staging is null || _stagingNext >= ArenaRegions)
                    {
                        _staging?.Release();
                        _staging = _arenas.Rent(ArenaBytes);
                        _stagingNext = 0;
                    }
                    count = Math.Min(count, ArenaRegions - _stagingNext);
                }
                EnsureReceiveArrays(Math.Max(count, StagingCount));
                fixed (MMsgHdr* msgs = _recvMsgs)
                fixed (IoVec* iov = _recvIov)
                fixed (byte* names = _recvNames)
                fixed (byte* control = _recvControl)
                fixed (byte* data = _gro ? _staging!.Array : batch.Buffer)
                {
                    for (int k = 0; k < count; k++)
                    {
                        iov[k].Base = _gro ? data + ((_stagingNext + k) * StagingSlot) : data + ((batch.Count + k) * batch.SlotSize);
                        iov[k].Length = (nuint)(_gro ? StagingSlot : batch.SlotSize);
                        ref var h = ref msgs[k].Header;
                        h.Name = names + (k * NameStride);
                        h.NameLength = NameStride;
                        h.Iov = iov + k;
                        h.IovLength = 1;
                        h.Control = control + (k * RecvControlStride);
                        h.ControlLength = RecvControlStride;
                        h.Flags = 0;
                        msgs[k].Length = 0;
                    }
                    int m = RecvMMsg(fd, msgs, (uint)count, MSG_DONTWAIT, null);
                    if (m < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == EINTR) continue;
                        if (errno == EAGAIN) return batch.Count;
                        if (errno is ENOSYS or EINVAL)
                        {
                            _receiveFallback = true;
                            return batch.Count;
                        }
                        if (batch.Count > 0) return batch.Count;
                        throw new SocketException(errno);
                    }
                    ReceiveCalls++;
                    if (_gro)
                    {
                        if (m > 0)
                        {
                            CommitCoalesced(batch, msgs, m);
                            _arenas.Touch();
                        }
                    }
                    else
                    {
                        for (int k = 0; k < m; k++)
                        {
                            var path = PathOf(ref msgs[k].Header, out _);
                            batch.Commit(Math.Min((int)msgs[k].Length, batch.SlotSize), path);
                        }
                    }
                    return batch.Count;
                }
            }
        }
        finally
        {
            if (addRef) handle.DangerousRelease();
        }
    }

    /// <summary>
    /// GRO: how many messages to ask recvmmsg for. Each may be a coalesced run of up to 64 KiB, so each gets a 64 KiB
    /// region of an arena that the batch then keeps (the segments are used where they lie). Asked for: as many regions
    /// as the batch's slots hold bytes (32 × 16 KiB QUIC slots: 8), or more when the runs seen last were short, so that
    /// the batch's capacity in datagrams is reached too (datagrams not coalesced: one per message) — at most 16 (1 MiB).
    /// recvmmsg returns only what is queued: a batch is bigger when the receiver is behind, not later.
    /// </summary>
    private int GroMessagesWanted(DatagramBatch batch)
    {
        int byBytes = (int)Math.Min((long)batch.Capacity * batch.SlotSize / StagingSlot, StagingCount);
        int byCount = (batch.Capacity + _segmentsPerMessage - 1) / _segmentsPerMessage;
        return Math.Clamp(Math.Max(byBytes, byCount), 1, StagingCount);
    }

    /// <summary>
    /// GRO: lends the arena holding <paramref name="m"/> received messages to <paramref name="batch"/> (one more reference;
    /// the socket keeps receiving into the arena's later regions) and adds each message's segments in place (a
    /// coalesced message holds equal segments, the last one possibly shorter); segments longer than the batch's slot
    /// size are truncated to it, as a slot receive would.
    /// </summary>
    private unsafe void CommitCoalesced(DatagramBatch batch, MMsgHdr* msgs, int m)
    {
        var arena = _staging!;
        arena.AddRef();
        batch.AdoptArena(arena.Array, arena);
        int first = _stagingNext;
        _stagingNext += m;
        int segments = 0;
        for (int k = 0; k < m; k++)
        {
            var path = PathOf(ref msgs[k].Header, out int segment);
            int total = Math.Min((int)msgs[k].Length, StagingSlot);
            int start = (first + k) * StagingSlot;
            if (total == 0)
            {
                batch.CommitInArena(start, 0, path); // an empty datagram is a datagram too
                segments++;
                continue;
            }
            if (segment <= 0 || segment > total) segment = total;
            else if (segment < total) GroMessages++;
            for (int at = 0; at < total; at += segment)
            {
                int len = Math.Min(segment, total - at);
                if (!batch.CommitInArena(start + at, Math.Min(len, batch.SlotSize), path))
                {
                    GroSegmentsDropped += (total - at + segment - 1) / segment;
                    break;
                }
                segments++;
            }
        }
        _segmentsPerMessage = Math.Max(1, (segments + m - 1) / m);
    }

    /// <summary>
    /// Before waiting for the socket: the GRO arena is parked on the socket's free list (the next receive carries on in it;
    /// the list gives it and its free arenas back to the shared pool after <see cref="ArenaList.IdleRelease"/> without a
    /// receive — the arena itself once no batch holds part of it) and the caller's batch slots to the
    /// shared pool, so a socket that waits a while holds neither (1000 idle QUIC connections held 1.2 MiB each,
    /// issue 13); the next receive rents them again.
    /// </summary>
    private void ReleaseIdleBuffers(DatagramBatch batch)
    {
        batch.ReleaseBuffer();
        if (_staging is { } staging)
        {
            _staging = null;
            if (_stagingNext < ArenaRegions) _arenas.Park(staging, _stagingNext);
            else staging.Release();
        }
    }

    /// <summary>The socket's free GRO arenas (tests and benches).</summary>
    internal ArenaList Arenas => _arenas;

    private void EnsureReceiveArrays(int count)
    {
        if (_recvMsgs.Length >= count) return;
        _recvMsgs = new MMsgHdr[count];
        _recvIov = new IoVec[count];
        _recvNames = new byte[count * NameStride];
        _recvControl = new byte[count * RecvControlStride];
    }

    /// <summary>The path of a received message: sender from the name, destination/interface from pktinfo, GRO segment size.</summary>
    private unsafe DatagramPath PathOf(ref MsgHdr h, out int groSegment)
    {
        groSegment = 0;
        var remote = RemoteOf(new ReadOnlySpan<byte>(h.Name, (int)Math.Min(h.NameLength, (uint)NameStride)));
        IPEndPoint? local = null;
        int ifindex = 0;
        byte* c = (byte*)h.Control;
        long left = (long)h.ControlLength;
        while (left >= CmsgHeaderSize)
        {
            long len = (long)*(nuint*)c;
            if (len < CmsgHeaderSize || len > left) break;
            int level = *(int*)(c + 8);
            int type = *(int*)(c + 12);
            byte* d = c + CmsgHeaderSize;
            long dataLength = len - CmsgHeaderSize;
            if (level == SOL_IP && type == IP_PKTINFO && dataLength >= 12)
            {
                ifindex = *(int*)d;
                local = LocalOf(new ReadOnlySpan<byte>(d + 8, 4));
            }
            else if (level == SOL_IPV6 && type == IPV6_PKTINFO && dataLength >= 20)
            {
                ifindex = *(int*)(d + 16);
                local = LocalOf(new ReadOnlySpan<byte>(d, 16));
            }
            else if (level == SOL_UDP && type == UDP_GRO && dataLength >= 2)
            {
                groSegment = dataLength >= 4 ? *(int*)d : *(ushort*)d;
            }
            long step = CmsgAlign((int)len);
            c += step;
            left -= step;
        }
        return new DatagramPath(local ?? LocalEndPoint, remote, ifindex);
    }

    /// <summary>The sender as an <see cref="IPEndPoint"/>, reusing the previous object for the same sender (no allocation per datagram).</summary>
    private IPEndPoint? RemoteOf(ReadOnlySpan<byte> name)
    {
        if (name.Length < 2) return null;
        if (_lastRemote is not null && name.SequenceEqual(_lastRemoteName.AsSpan(0, _lastRemoteNameLength))) return _lastRemote;
        int family = BinaryPrimitives.ReadUInt16LittleEndian(name);
        IPEndPoint? ep = null;
        if (family == AF_INET && name.Length >= 8)
            ep = new IPEndPoint(new IPAddress(name.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(name[2..]));
        else if (family == AF_INET6 && name.Length >= 28)
            ep = new IPEndPoint(new IPAddress(name.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(name[24..])), BinaryPrimitives.ReadUInt16BigEndian(name[2..]));
        if (ep is null) return null;
        name.CopyTo(_lastRemoteName);
        _lastRemoteNameLength = name.Length;
        _lastRemote = ep;
        return ep;
    }

    private IPEndPoint LocalOf(ReadOnlySpan<byte> address)
    {
        if (_lastLocal is not null && address.SequenceEqual(_lastLocalAddress.AsSpan(0, address.Length))
            && (_lastLocal.AddressFamily == AddressFamily.InterNetwork) == (address.Length == 4))
            return _lastLocal;
        var a = new IPAddress(address);
        if (a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any)) return LocalEndPoint;
        address.CopyTo(_lastLocalAddress);
        return _lastLocal = new IPEndPoint(a, LocalEndPoint.Port);
    }

    // ---------------------------------------------------------------- send

    /// <inheritdoc/>
    public void Send(ReadOnlySpan<byte> datagram, DatagramPath path) => _portable.Send(datagram, path);

    /// <inheritdoc/>
    public unsafe void Send(DatagramBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) return;
        if (_sendFallback)
        {
            _portable.Send(batch);
            return;
        }
        var s = _threadScratch ??= new SendScratch();
        s.Ensure(batch.Count);
        bool addRef = false;
        var handle = _socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref addRef);
            int fd = (int)handle.DangerousGetHandle();
            fixed (MMsgHdr* msgs = s.Msgs)
            fixed (IoVec* iov = s.Iov)
            fixed (byte* names = s.Names)
            fixed (byte* control = s.Control)
            fixed (byte* data = batch.Storage)
            {
                bool gso = _gso;
                int m = 0;
                for (int i = 0; i < batch.Count;)
                {
                    var path = batch.PathAt(i);
                    int size = batch.LengthAt(i);
                    int j = i + 1;
                    if (gso && size > 0)
                    {
                        int total = size;
                        while (j < batch.Count && j - i < MaxGsoSegments)
                        {
                            int next = batch.LengthAt(j);
                            if (next == 0 || next > size || total + next > MaxGsoBytes || !SameDestination(batch.PathAt(j), path)) break;
                            total += next;
                            j++;
                            if (next < size) break; // only the last segment may be shorter
                        }
                    }
                    if (path.Remote is not { } remote)
                    {
                        SendDrops += j - i;
                        i = j;
                        continue;
                    }
                    for (int k = i; k < j; k++)
                    {
                        iov[k].Base = data + batch.OffsetAt(k);
                        iov[k].Length = (nuint)batch.LengthAt(k);
                    }
                    ref var h = ref msgs[m].Header;
                    h.Name = names + (m * NameStride);
                    h.NameLength = (uint)WriteName(new Span<byte>(h.Name, NameStride), remote);
                    h.Iov = iov + i;
                    h.IovLength = (nuint)(j - i);
                    h.Control = control + (m * SendControlStride);
                    h.ControlLength = (nuint)WriteControl(new Span<byte>(h.Control, SendControlStride), path, j - i > 1 ? size : 0);
                    if (h.ControlLength == 0) h.Control = null;
                    h.Flags = 0;
                    msgs[m].Length = 0;
                    s.First[m] = i;
                    s.Count[m] = j - i;
                    m++;
                    i = j;
                }
                SendMessages(fd, msgs, m, s, batch);
            }
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (addRef) handle.DangerousRelease();
        }
    }

    private unsafe void SendMessages(int fd, MMsgHdr* msgs, int m, SendScratch s, DatagramBatch batch)
    {
        int sent = 0;
        int waits = 0;
        while (sent < m)
        {
            int r = SendMMsg(fd, msgs + sent, (uint)(m - sent), MSG_DONTWAIT);
            Interlocked.Increment(ref SendCalls);
            if (r > 0)
            {
                for (int k = sent; k < sent + r; k++) if (s.Count[k] > 1) Interlocked.Increment(ref GsoMessages);
                sent += r;
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EAGAIN)
            {
                // Socket buffer full: wait a little for room (bounded), then drop the rest.
                if (waits++ < 4)
                {
                    var pfd = new PollFd { Fd = fd, Events = POLLOUT };
                    _ = Poll(&pfd, 1, 5);
                    continue;
                }
                for (int k = sent; k < m; k++) Interlocked.Add(ref SendDrops, s.Count[k]);
                return;
            }
            if (s.Count[sent] > 1 && errno is EIO or EMSGSIZE or EINVAL or ENOPROTOOPT or EOPNOTSUPP)
            {
                // Send the group's datagrams one by one. If all of them go, the path refuses segmentation offload (no
                // checksum offload, old kernel): plain datagrams from now on. If one of them fails alone too, that
                // datagram was too big for the path (a Path MTU probe with DF set): it is lost, GSO stays on.
                if (SendOneByOne(batch, s.First[sent], s.Count[sent])) _gso = false;
                sent++;
                continue;
            }
            if (errno == ENOSYS || (errno == EINVAL && msgs[sent].Header.ControlLength == 0))
            {
                // The kernel refuses the batched call itself: the portable path from here on.
                _sendFallback = true;
                for (int k = sent; k < m; k++) _ = SendOneByOne(batch, s.First[k], s.Count[k]);
                return;
            }
            // This datagram cannot go (unreachable, too big, bad pktinfo): UDP loses it, the rest still go.
            Interlocked.Add(ref SendDrops, s.Count[sent]);
            sent++;
        }
    }

    /// <summary>Sends datagrams one system call each; true when the OS took every one of them.</summary>
    private bool SendOneByOne(DatagramBatch batch, int first, int count)
    {
        bool all = true;
        for (int k = first; k < first + count; k++)
        {
            if (_portable.TrySend(batch[k], batch.PathAt(k))) continue;
            all = false;
            Interlocked.Increment(ref SendDrops);
        }
        return all;
    }

    private static bool SameDestination(in DatagramPath a, in DatagramPath b) =>
        a.InterfaceIndex == b.InterfaceIndex && Equals(a.Remote, b.Remote) && Equals(a.Local?.Address, b.Local?.Address);

    /// <summary>Writes the sockaddr for <paramref name="remote"/> (IPv4 on an IPv6 socket as a mapped address); its length.</summary>
    private int WriteName(Span<byte> name, IPEndPoint remote)
    {
        name.Clear();
        var address = remote.Address;
        if (_v4)
        {
            if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
            BinaryPrimitives.WriteUInt16LittleEndian(name, AF_INET);
            BinaryPrimitives.WriteUInt16BigEndian(name[2..], (ushort)remote.Port);
            address.TryWriteBytes(name.Slice(4, 4), out _);
            return 16;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork) address = address.MapToIPv6();
        BinaryPrimitives.WriteUInt16LittleEndian(name, AF_INET6);
        BinaryPrimitives.WriteUInt16BigEndian(name[2..], (ushort)remote.Port);
        address.TryWriteBytes(name.Slice(8, 16), out _);
        BinaryPrimitives.WriteUInt32LittleEndian(name[24..], (uint)address.ScopeId);
        return 28;
    }

    /// <summary>Writes pktinfo (interface / source address) and the GSO segment size as control messages; the total length.</summary>
    private int WriteControl(Span<byte> control, in DatagramPath path, int gsoSize)
    {
        int at = 0;
        var source = path.Local?.Address;
        if (source is not null && (source.Equals(IPAddress.Any) || source.Equals(IPAddress.IPv6Any) || UdpDatagramSocket.IsMulticast(source))) source = null;
        if (source is not null && _v4 != (source.AddressFamily == AddressFamily.InterNetwork)) source = null;
        if (path.InterfaceIndex != 0 || source is not null)
        {
            if (_v4)
            {
                var c = control[at..];
                c[..CmsgSpace(12)].Clear();
                BinaryPrimitives.WriteUInt64LittleEndian(c, (ulong)CmsgLen(12));
                BinaryPrimitives.WriteInt32LittleEndian(c[8..], SOL_IP);
                BinaryPrimitives.WriteInt32LittleEndian(c[12..], IP_PKTINFO);
                BinaryPrimitives.WriteInt32LittleEndian(c[16..], path.InterfaceIndex);
                source?.TryWriteBytes(c.Slice(20, 4), out _); // ipi_spec_dst: the source address
                at += CmsgSpace(12);
            }
            else
            {
                var c = control[at..];
                c[..CmsgSpace(20)].Clear();
                BinaryPrimitives.WriteUInt64LittleEndian(c, (ulong)CmsgLen(20));
                BinaryPrimitives.WriteInt32LittleEndian(c[8..], SOL_IPV6);
                BinaryPrimitives.WriteInt32LittleEndian(c[12..], IPV6_PKTINFO);
                source?.TryWriteBytes(c.Slice(16, 16), out _);
                BinaryPrimitives.WriteInt32LittleEndian(c[32..], path.InterfaceIndex);
                at += CmsgSpace(20);
            }
        }
        if (gsoSize > 0)
        {
            var c = control[at..];
            c[..CmsgSpace(2)].Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(c, (ulong)CmsgLen(2));
            BinaryPrimitives.WriteInt32LittleEndian(c[8..], SOL_UDP);
            BinaryPrimitives.WriteInt32LittleEndian(c[12..], UDP_SEGMENT);
            BinaryPrimitives.WriteUInt16LittleEndian(c[16..], (ushort)gsoSize);
            at += CmsgSpace(2);
        }
        return at;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _readiness?.Close(); // off the epoll set before the descriptor number can be reused
        _socket.Dispose();
        _arenas.Dispose();
    }

    /// <summary>Per-thread send structures (grown on demand; pinned with <c>fixed</c> only during a send): several loops may send on one socket at once.</summary>
    private sealed class SendScratch
    {
        public MMsgHdr[] Msgs = [];
        public IoVec[] Iov = [];
        public byte[] Names = [];
        public byte[] Control = [];
        public int[] First = [];
        public int[] Count = [];

        public void Ensure(int n)
        {
            if (Msgs.Length >= n) return;
            n = Math.Max(n, 64);
            Msgs = new MMsgHdr[n];
            Iov = new IoVec[n];
            Names = new byte[n * NameStride];
            Control = new byte[n * SendControlStride];
            First = new int[n];
            Count = new int[n];
        }
    }
}
