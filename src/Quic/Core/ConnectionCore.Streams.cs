using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Transport;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Core;

/// <summary>Streams, flow control (RFC 9000 §2–4), DATAGRAM (RFC 9221) and application-space frame scheduling.</summary>
internal sealed partial class ConnectionCore
{
    private readonly Dictionary<long, StreamState> _streams = new();
    private readonly Queue<StreamState> _sendQueue = new();
    private readonly Queue<long> _acceptQueue = new();
    private readonly HashSet<long> _controlPending = new();
    private readonly Queue<byte[]> _datagramsOut = new();
    private readonly Queue<byte[]> _datagramsIn = new();

    // connection flow control
    private ulong _peerMaxData, _sentData, _dataBlockedSentAt = ulong.MaxValue;
    private bool _dataBlockedPending;
    private ulong _localMaxData, _recvData, _consumedData, _connWindow;
    private TimeSpan _lastMaxDataUpdate;
    private bool _maxDataPending;

    // stream limits
    private ulong _peerMaxStreamsBidi, _peerMaxStreamsUni;
    private ulong _nextLocalBidi, _nextLocalUni;          // counts opened
    private ulong _localMaxStreamsBidi, _localMaxStreamsUni; // what we advertised
    private ulong _remoteOpenedBidi, _remoteOpenedUni;       // counts opened by peer
    private ulong _remoteClosedBidi, _remoteClosedUni;
    private bool _maxStreamsBidiPending, _maxStreamsUniPending;
    private bool _streamsBlockedPending;

    public int StreamCount => _streams.Count;

    private void InitFlowControl()
    {
        _localMaxData = _options.InitialMaxData;
        _connWindow = _options.InitialMaxData;
        _localMaxStreamsBidi = _options.MaxInboundBidiStreams;
        _localMaxStreamsUni = _options.MaxInboundUniStreams;
    }

    private void ApplyPeerFlowControl(TransportParameters p)
    {
        _peerMaxData = p.InitialMaxData;
        _peerMaxStreamsBidi = p.InitialMaxStreamsBidi;
        _peerMaxStreamsUni = p.InitialMaxStreamsUni;
        foreach (var s in _streams.Values) s.PeerMaxStreamData = InitialPeerStreamLimit(s.Id);
        Emit(CoreEventKind.StreamsAvailable);
    }

    private bool IsLocal(long id) => ((id & 1) == 1) == !IsClient;

    private ulong InitialPeerStreamLimit(long id)
    {
        var p = PeerParameters;
        if (p is null) return 0;
        if ((id & 2) != 0) return IsLocal(id) ? p.InitialMaxStreamDataUni : 0;
        return IsLocal(id) ? p.InitialMaxStreamDataBidiRemote : p.InitialMaxStreamDataBidiLocal;
    }

    private ulong InitialLocalStreamLimit(long id)
    {
        if ((id & 2) != 0) return _options.InitialMaxStreamDataUni;
        return IsLocal(id) ? _options.InitialMaxStreamDataBidiLocal : _options.InitialMaxStreamDataBidiRemote;
    }

    /// <summary>
    /// First ring size of a stream's send and receive buffers (rented on the first byte, doubled on demand up to the
    /// stream's limits). 4 KiB: an OSP session's long-lived streams carry small messages, and 1000 idle sessions held
    /// 16 KiB rings each way on each of them (issue 13); a bulk stream reaches its window in a few more doublings.
    /// </summary>
    internal const int InitialStreamRing = 4 << 10;

    private StreamState NewStream(long id)
    {
        bool uni = (id & 2) != 0;
        bool local = IsLocal(id);
        SendBuffer? send = !uni || local ? new SendBuffer(InitialStreamRing, _options.StreamSendBufferLimit) : null;
        RecvBuffer? recv = null;
        ulong localLimit = InitialLocalStreamLimit(id);
        if (!uni || !local) recv = new RecvBuffer(Math.Min((int)localLimit, InitialStreamRing), (int)Math.Min(_options.MaxStreamWindow, int.MaxValue / 2));
        var s = new StreamState(id, send, recv)
        {
            PeerMaxStreamData = InitialPeerStreamLimit(id),
            LocalMaxStreamData = localLimit,
            Window = localLimit,
        };
        _streams[id] = s;
        return s;
    }

    /// <summary>Opens a local stream; returns its ID, or -1 when the peer's stream limit is reached.</summary>
    public long OpenStream(bool bidirectional)
    {
        if (State != CoreState.Connected) return -1;
        ref ulong next = ref bidirectional ? ref _nextLocalBidi : ref _nextLocalUni;
        ulong limit = bidirectional ? _peerMaxStreamsBidi : _peerMaxStreamsUni;
        if (next >= limit) { _streamsBlockedPending = true; _streamsBlockedBidi = bidirectional; return -1; }
        long id = (long)((next << 2) | (IsClient ? 0UL : 1UL) | (bidirectional ? 0UL : 2UL));
        next++;
        NewStream(id);
        return id;
    }

    private bool _streamsBlockedBidi;

    public bool TryAcceptStream(out long id) => _acceptQueue.TryDequeue(out id);

    public StreamState? GetStream(long id) => _streams.TryGetValue(id, out var s) ? s : null;

    /// <summary>Queues bytes for sending; returns how many were accepted (0 when the buffer is full).</summary>
    public int StreamWrite(long id, ReadOnlySpan<byte> data, bool fin)
    {
        var s = WritableStream(id);
        if (s.Send!.IsLeased) throw new QuicException(QuicError.InternalError, null, "a write while the stream's send space is leased");
        int n = s.Send.Write(data);
        if (n < data.Length) s.WantsWritable = true;
        if (fin && n == data.Length) s.Send.WriteFin();
        if ((n > 0 || fin) && !s.InSendQueue) { s.InSendQueue = true; _sendQueue.Enqueue(s); }
        return n;
    }

    /// <summary>
    /// Lends free send space of stream <paramref name="id"/> (at most <paramref name="maxLength"/> bytes, contiguous) for the
    /// caller to write stream data into in place — e.g. straight from a socket read — instead of handing bytes to
    /// <see cref="StreamWrite"/> to be copied. Empty when there is no room now (then <see cref="CoreEventKind.StreamWritable"/>
    /// follows). The memory stays valid, and the stream takes no other write, until <see cref="StreamCommitLease"/>;
    /// the caller may fill it off the loop.
    /// </summary>
    public ArraySegment<byte> StreamLease(long id, int maxLength)
    {
        var s = WritableStream(id);
        if (!s.Send!.TryLease(maxLength, out var ring, out int index, out int length))
        {
            s.WantsWritable = true;
            return ArraySegment<byte>.Empty;
        }
        return new ArraySegment<byte>(ring, index, length);
    }

    /// <summary>Ends a lease: its first <paramref name="count"/> bytes are stream data (0: none); <paramref name="fin"/> completes the writes.</summary>
    public void StreamCommitLease(long id, int count, bool fin)
    {
        if (!_streams.TryGetValue(id, out var s) || s.Send is not { IsLeased: true } send) return; // aborted or gone meanwhile: the data is dropped
        if (s.ResetErrorCode is not null || State >= CoreState.Closing) { send.CancelLease(); return; }
        send.CommitLease(count);
        if (fin) send.WriteFin();
        if ((count > 0 || fin) && !s.InSendQueue) { s.InSendQueue = true; _sendQueue.Enqueue(s); }
    }

    private StreamState WritableStream(long id)
    {
        if (!_streams.TryGetValue(id, out var s) || s.Send is null) throw new QuicException(QuicError.InternalError, null, "stream not writable");
        if (s.PeerStopSendingCode is long code) throw new QuicException(QuicError.StreamAborted, code, "peer sent STOP_SENDING");
        if (s.ResetErrorCode is not null) throw new QuicException(QuicError.OperationAborted, null, "stream writes were aborted");
        if (State >= CoreState.Closing) throw CloseReason ?? new QuicException(QuicError.OperationAborted, null, "connection closed");
        return s;
    }

    /// <summary>Reads received bytes; <paramref name="fin"/> is true once all data up to the final size has been read.</summary>
    public int StreamRead(long id, Span<byte> dest, TimeSpan now, out bool fin) => StreamRead(id, dest, default, now, out fin);

    /// <summary>
    /// Reads received bytes into <paramref name="dest"/>. When nothing is there and <paramref name="waiting"/> (the same
    /// memory as <paramref name="dest"/>) is not empty, registers it as the stream's waiting read: in-order data that
    /// arrives next is copied straight into it (one copy instead of two, through the ring) and the next call returns
    /// those bytes first. A caller that stops waiting takes them back with <see cref="StreamTakePendingRead"/>.
    /// </summary>
    public int StreamRead(long id, Span<byte> dest, Memory<byte> waiting, TimeSpan now, out bool fin)
    {
        Advance(now);
        fin = false;
        if (!_streams.TryGetValue(id, out var s) || s.Recv is null) throw new QuicException(QuicError.InternalError, null, "stream not readable");
        int n = s.PendingFilled;
        if (n > 0 && !Unsafe.AreSame(ref MemoryMarshal.GetReference(dest), ref MemoryMarshal.GetReference(s.PendingRead.Span)))
        {
            // Read into other memory than the waiting read's: its bytes come first.
            if (dest.Length < n) throw new ArgumentException("the read buffer is smaller than the waiting read's bytes", nameof(dest));
            s.PendingRead.Span[..n].CopyTo(dest);
        }
        s.PendingRead = default;
        s.PendingFilled = 0;
        if (n == 0)
        {
            if (s.PeerResetCode is long code) { s.ReadFinReported = true; MaybeRemove(s); throw new QuicException(QuicError.StreamAborted, code, "peer reset the stream"); }
            if (s.StopSendingCode is not null) throw new QuicException(QuicError.OperationAborted, null, "stream reads were aborted");
        }
        if (s.PeerResetCode is null && s.StopSendingCode is null)
        {
            int m = s.Recv.Read(dest[n..]);
            if (m > 0) OnConsumed(s, (ulong)m, now);
            n += m;
        }
        if (s.Recv.IsFinished && s.PeerResetCode is null) { fin = true; s.ReadFinReported = true; MaybeRemove(s); }
        else if (n == 0 && !waiting.IsEmpty && s.StopSendingCode is null && s.PeerResetCode is null) s.PendingRead = waiting;
        return n;
    }

    /// <summary>
    /// Unregisters the stream's waiting read (the reader gave up: cancelled or timed out) and returns how many bytes
    /// were already copied into it — they are consumed from the stream, so the reader must still deliver them.
    /// </summary>
    public int StreamTakePendingRead(long id)
    {
        if (!_streams.TryGetValue(id, out var s)) return 0;
        int n = s.PendingFilled;
        s.PendingRead = default;
        s.PendingFilled = 0;
        return n;
    }

    public int StreamReadable(long id) => _streams.TryGetValue(id, out var s) && s.Recv is not null ? s.Recv.Readable : 0;

    /// <summary>Abort our sending side (RESET_STREAM).</summary>
    public void StreamAbortWrite(long id, long errorCode)
    {
        if (!_streams.TryGetValue(id, out var s) || s.Send is null || s.ResetErrorCode is not null) return;
        if (s.Send.AllAcked) return;
        s.ResetErrorCode = errorCode;
        s.ResetPending = true;
        s.PeerFinalSizeForReset = s.Send.SendEnd;
        s.Send.Discard();
        _controlPending.Add(id);
    }

    /// <summary>Abort our receiving side (STOP_SENDING).</summary>
    public void StreamAbortRead(long id, long errorCode)
    {
        if (!_streams.TryGetValue(id, out var s) || s.Recv is null || s.StopSendingCode is not null) return;
        s.StopSendingCode = errorCode;
        if (s.PeerResetCode is null && !s.Recv.IsFinished) { s.StopSendingPending = true; _controlPending.Add(id); }
        // unread bytes (and any that still arrive) count as consumed so the connection window keeps moving
        if (s.PeerResetCode is null)
        {
            s.AbandonedCredit = s.Recv.ReadOffset;
            CreditAbandoned(s, s.CountedRecv);
        }
        MaybeRemove(s);
    }

    /// <summary>
    /// Counts the bytes of an abandoned receive side up to <paramref name="upTo"/> as consumed (RFC 9000 §4.5: a
    /// receiver that discards a stream's data must still credit the connection window, or every later stream stalls once
    /// the discarded bytes fill it), and raises MAX_DATA when the window needs it.
    /// </summary>
    private void CreditAbandoned(StreamState s, ulong upTo)
    {
        if (upTo <= s.AbandonedCredit) return;
        _consumedData += upTo - s.AbandonedCredit;
        s.AbandonedCredit = upTo;
        MaybeRaiseMaxData(_now);
    }

    private void OnConsumed(StreamState s, ulong n, TimeSpan now)
    {
        _consumedData += n;
        // stream window auto-tuning: if the window is being used up within ~2 RTT, double it
        ulong consumed = s.Recv!.ReadOffset;
        if (s.Recv.FinalSize is null && s.LocalMaxStreamData - consumed < s.Window / 2)
        {
            if (_rtt.HasSample && now - s.LastWindowUpdate < 2 * _rtt.SmoothedRtt && s.Window < _options.MaxStreamWindow)
                s.Window = Math.Min(s.Window * 2, _options.MaxStreamWindow);
            s.LastWindowUpdate = now;
            s.LocalMaxStreamData = consumed + s.Window;
            s.MaxStreamDataPending = true;
            _controlPending.Add(s.Id);
        }
        MaybeRaiseMaxData(now);
    }

    private void MaybeRaiseMaxData(TimeSpan now)
    {
        if (_localMaxData - _consumedData < _connWindow / 2)
        {
            if (_rtt.HasSample && now - _lastMaxDataUpdate < 2 * _rtt.SmoothedRtt && _connWindow < _options.MaxConnectionWindow)
                _connWindow = Math.Min(_connWindow * 2, _options.MaxConnectionWindow);
            _lastMaxDataUpdate = now;
            _localMaxData = _consumedData + _connWindow;
            _maxDataPending = true;
        }
    }

    private void MaybeRemove(StreamState s)
    {
        if (!s.SendDone || !s.RecvDone) return;
        if (s.ResetPending || s.StopSendingPending || s.MaxStreamDataPending) return;
        if (!_streams.Remove(s.Id)) return;
        // Both halves are done: the rings go back to the pool for the next stream (frames for a removed stream
        // find no StreamState, so nothing touches these buffers again).
        s.Send?.Release();
        s.Recv?.Release();
        s.PendingRead = default;
        if (!IsLocal(s.Id))
        {
            if (s.IsBidirectional) { _remoteClosedBidi++; if (_localMaxStreamsBidi - _remoteOpenedBidi < _options.MaxInboundBidiStreams / 2 + 1) { _localMaxStreamsBidi = _remoteClosedBidi + _options.MaxInboundBidiStreams; _maxStreamsBidiPending = true; } }
            else { _remoteClosedUni++; if (_localMaxStreamsUni - _remoteOpenedUni < _options.MaxInboundUniStreams / 2 + 1) { _localMaxStreamsUni = _remoteClosedUni + _options.MaxInboundUniStreams; _maxStreamsUniPending = true; } }
        }
    }

    private static void ValidateStreamIdForReceive(ulong id)
    {
        if (id > (1UL << 62)) throw QuicException.Transport(TransportErrorCode.StreamStateError, "bad stream id");
    }

    /// <summary>Finds or implicitly opens the stream a frame refers to; null when it was already closed.</summary>
    private StreamState? StreamForFrame(ulong uid, bool forSending)
    {
        long id = (long)uid;
        if (_streams.TryGetValue(id, out var s)) return s;
        bool uni = (id & 2) != 0;
        ulong index = (ulong)id >> 2;
        if (IsLocal(id))
        {
            ulong opened = uni ? _nextLocalUni : _nextLocalBidi;
            if (index >= opened) throw QuicException.Transport(TransportErrorCode.StreamStateError, "frame for a local stream not yet opened");
            return null; // closed already
        }
        if (uni && forSending) throw QuicException.Transport(TransportErrorCode.StreamStateError, "send-side frame for a receive-only stream");
        ref ulong openedRemote = ref uni ? ref _remoteOpenedUni : ref _remoteOpenedBidi;
        ulong limit = uni ? _localMaxStreamsUni : _localMaxStreamsBidi;
        if (index < openedRemote) return null; // closed already
        if (index >= limit) throw QuicException.Transport(TransportErrorCode.StreamLimitError, "peer exceeded the stream limit");
        StreamState? result = null;
        for (ulong i = openedRemote; i <= index; i++)
        {
            long sid = (long)((i << 2) | (IsClient ? 1UL : 0UL) | (uni ? 2UL : 0UL));
            var ns = NewStream(sid);
            _acceptQueue.Enqueue(sid);
            Emit(CoreEventKind.StreamOpened, sid);
            result = ns;
        }
        openedRemote = index + 1;
        return result;
    }

    /// <summary>
    /// A STREAM frame's data. <paramref name="placed"/>: TryDecryptPlacing already decrypted it into its destination
    /// (<see cref="_placed"/>): only the bookkeeping is left, and <paramref name="data"/> (ciphertext) is not read.
    /// </summary>
    private void OnStreamFrame(ulong id, ulong offset, ReadOnlySpan<byte> data, bool fin, TimeSpan now, bool placed = false)
    {
        if (placed && ((long)id != _placed.StreamId || offset != _placed.Offset || data.Length != _placed.Length))
            throw QuicException.Transport(TransportErrorCode.InternalError, "placed STREAM data does not match its frame");
        if (IsLocal((long)id) && ((long)id & 2) != 0) throw QuicException.Transport(TransportErrorCode.StreamStateError, "STREAM on a send-only stream");
        var s = StreamForFrame(id, false);
        if (s is null || s.Recv is null) return;
        ulong end = offset + (ulong)data.Length;
        if (end > s.LocalMaxStreamData) throw QuicException.Transport(TransportErrorCode.FlowControlError, "stream flow control exceeded");
        if (s.Recv.FinalSize is ulong fs && end > fs) throw QuicException.Transport(TransportErrorCode.FinalSizeError, "data beyond final size");
        if (fin && !s.Recv.SetFinalSize(end)) throw QuicException.Transport(TransportErrorCode.FinalSizeError, "final size changed");
        if (end > s.CountedRecv)
        {
            _recvData += end - s.CountedRecv;
            s.CountedRecv = end;
            if (_recvData > _localMaxData) throw QuicException.Transport(TransportErrorCode.FlowControlError, "connection flow control exceeded");
        }
        if (s.PeerResetCode is not null || s.StopSendingCode is not null) { CreditAbandoned(s, s.CountedRecv); MaybeRemove(s); return; }
        if (placed)
        {
            // The plan's checks (nothing buffered overlaps, the waiting buffer's room) held when it was made and nothing
            // that touches this stream's receive side ran since (only PADDING/PING/ACK precede the frame).
            int take = _placed.PendingTake;
            if (take > 0)
            {
                s.PendingFilled += take;
                Counters.StreamBytesDirect += take;
                s.Recv.ConsumeDirect(take);
                OnConsumed(s, (ulong)take, now);
                Emit(CoreEventKind.StreamReadable, s.Id);
            }
            int rest = data.Length - take;
            if (rest == 0 && !fin) return;
            int was = s.Recv.Readable;
            Counters.StreamBytesRing += rest;
            if (!s.Recv.CommitWritten(offset + (ulong)take, rest)) throw QuicException.Transport(TransportErrorCode.FlowControlError, "stream reassembly limit exceeded");
            EmitReadableAfterInsert(s, was, fin);
            return;
        }
        if (s.PendingFilled < s.PendingRead.Length && s.Recv.IsEmpty && offset <= s.Recv.ReadOffset && end > s.Recv.ReadOffset)
        {
            // The reader waits and nothing is buffered: in-order bytes go straight into its memory.
            int skip = (int)(s.Recv.ReadOffset - offset);
            int take = Math.Min(data.Length - skip, s.PendingRead.Length - s.PendingFilled);
            data.Slice(skip, take).CopyTo(s.PendingRead.Span[s.PendingFilled..]);
            s.PendingFilled += take;
            Counters.StreamBytesDirect += take;
            s.Recv.ConsumeDirect(take);
            OnConsumed(s, (ulong)take, now);
            data = data[(skip + take)..];
            offset = s.Recv.ReadOffset;
            Emit(CoreEventKind.StreamReadable, s.Id);
            if (data.IsEmpty) return;
        }
        int before = s.Recv.Readable;
        Counters.StreamBytesRing += data.Length;
        if (!s.Recv.Insert(offset, data)) throw QuicException.Transport(TransportErrorCode.FlowControlError, "stream reassembly limit exceeded");
        EmitReadableAfterInsert(s, before, fin);
    }

    private void EmitReadableAfterInsert(StreamState s, int before, bool fin)
    {
        var recv = s.Recv!;
        if (recv.Readable > before || (fin && recv.IsFinished) || (recv.FinalSize is not null && recv.Readable == 0 && recv.IsFinished))
            Emit(CoreEventKind.StreamReadable, s.Id);
        else if (fin && recv.Readable > 0) Emit(CoreEventKind.StreamReadable, s.Id);
    }

    private void OnResetStream(in ResetStreamFrame f)
    {
        if (IsLocal((long)f.StreamId) && ((long)f.StreamId & 2) != 0) throw QuicException.Transport(TransportErrorCode.StreamStateError, "RESET_STREAM on a send-only stream");
        var s = StreamForFrame(f.StreamId, false);
        if (s is null || s.Recv is null || s.PeerResetCode is not null) return;
        if (f.FinalSize < s.Recv.HighestReceived || !s.Recv.SetFinalSize(f.FinalSize)) throw QuicException.Transport(TransportErrorCode.FinalSizeError, "bad final size in RESET_STREAM");
        if (f.FinalSize > s.CountedRecv)
        {
            _recvData += f.FinalSize - s.CountedRecv;
            s.CountedRecv = f.FinalSize;
            if (_recvData > _localMaxData) throw QuicException.Transport(TransportErrorCode.FlowControlError, "connection flow control exceeded");
        }
        // unread bytes no longer count against the connection window (after our STOP_SENDING part of them already
        // were: AbandonedCredit says how far)
        if (s.StopSendingCode is null) s.AbandonedCredit = s.Recv.ReadOffset;
        CreditAbandoned(s, f.FinalSize);
        s.PeerResetCode = (long)f.ErrorCode;
        s.StopSendingPending = false;
        Emit(CoreEventKind.StreamReadable, s.Id);
        MaybeRemove(s);
    }

    private void OnStopSending(in StopSendingFrame f)
    {
        if (!IsLocal((long)f.StreamId) && ((long)f.StreamId & 2) != 0) throw QuicException.Transport(TransportErrorCode.StreamStateError, "STOP_SENDING on a receive-only stream");
        var s = StreamForFrame(f.StreamId, true);
        if (s is null || s.Send is null) return;
        s.PeerStopSendingCode ??= (long)f.ErrorCode;
        StreamAbortWrite(s.Id, (long)f.ErrorCode);
        Emit(CoreEventKind.StreamWritable, s.Id);
    }

    private void OnMaxData(ulong max)
    {
        if (max > _peerMaxData)
        {
            _peerMaxData = max;
            foreach (var s in _streams.Values) if (s.Send is not null && s.Send.HasNew && !s.InSendQueue) { s.InSendQueue = true; _sendQueue.Enqueue(s); }
        }
    }

    private void OnMaxStreamData(ulong id, ulong max)
    {
        if (!IsLocal((long)id) && ((long)id & 2) != 0) throw QuicException.Transport(TransportErrorCode.StreamStateError, "MAX_STREAM_DATA on a receive-only stream");
        var s = StreamForFrame(id, true);
        if (s is null || s.Send is null) return;
        if (max > s.PeerMaxStreamData)
        {
            s.PeerMaxStreamData = max;
            if (s.Send.HasNew && !s.InSendQueue) { s.InSendQueue = true; _sendQueue.Enqueue(s); }
            Emit(CoreEventKind.StreamWritable, s.Id);
        }
    }

    private void OnMaxStreams(bool bidi, ulong max)
    {
        ref ulong limit = ref bidi ? ref _peerMaxStreamsBidi : ref _peerMaxStreamsUni;
        if (max > limit) { limit = max; Emit(CoreEventKind.StreamsAvailable); }
    }

    private void OnDatagram(ReadOnlySpan<byte> data)
    {
        if (_options.MaxDatagramFrameSize == 0) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "DATAGRAM not negotiated");
        if ((ulong)data.Length > _options.MaxDatagramFrameSize) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "DATAGRAM too large");
        if (_datagramsIn.Count >= 1024) return; // drop: unreliable by design
        _datagramsIn.Enqueue(data.ToArray());
        Emit(CoreEventKind.DatagramReceived);
    }

    /// <summary>Queues an unreliable DATAGRAM (RFC 9221); false when the peer does not accept datagrams this large.</summary>
    public bool SendDatagram(ReadOnlySpan<byte> data)
    {
        ulong peerMax = PeerParameters?.MaxDatagramFrameSize ?? 0;
        if (peerMax == 0 || (ulong)data.Length + 4 > peerMax || data.Length > _maxDatagram - 64) return false;
        if (_datagramsOut.Count >= 1024) return false;
        _datagramsOut.Enqueue(data.ToArray());
        return true;
    }

    public bool TryReceiveDatagram(out byte[] data) => _datagramsIn.TryDequeue(out data!);

    private bool HasAppDataToSend()
    {
        if (_handshakeDonePending || _maxDataPending || _maxStreamsBidiPending || _maxStreamsUniPending || _controlPending.Count > 0
            || _pathResponsePending || _datagramsOut.Count > 0 || _cidFramesPending || _dataBlockedPending || _streamsBlockedPending) return true;
        foreach (var s in _sendQueue)
            if (s.Send!.HasLost || (s.Send.HasNew && (s.Send.SendEnd < s.PeerMaxStreamData && _sentData < _peerMaxData || s.Send.SendEnd == s.Send.WriteEnd))) return true;
        return false;
    }

    private readonly List<long> _controlScratch = new();

    private void WriteAppFrames(ref QuicWriter w, SentPacket rec, TimeSpan now, bool allowData)
    {
        if (!allowData) return;
        if (_handshakeDonePending && HandshakeDoneFrame.TryWrite(ref w)) { _handshakeDonePending = false; Add(rec, SentFrameKind.HandshakeDone); }
        if (_pathResponsePending && new PathResponseFrame { Data = _pathResponseData }.TryWrite(ref w)) { _pathResponsePending = false; rec.AckEliciting = true; }
        if (_maxDataPending && new MaxDataFrame { MaximumData = _localMaxData }.TryWrite(ref w)) { _maxDataPending = false; Add(rec, SentFrameKind.MaxData); }
        if (_maxStreamsBidiPending && new MaxStreamsFrame { Bidirectional = true, MaximumStreams = _localMaxStreamsBidi }.TryWrite(ref w)) { _maxStreamsBidiPending = false; Add(rec, SentFrameKind.MaxStreamsBidi); }
        if (_maxStreamsUniPending && new MaxStreamsFrame { Bidirectional = false, MaximumStreams = _localMaxStreamsUni }.TryWrite(ref w)) { _maxStreamsUniPending = false; Add(rec, SentFrameKind.MaxStreamsUni); }
        if (_streamsBlockedPending)
        {
            var f = new StreamsBlockedFrame { Bidirectional = _streamsBlockedBidi, MaximumStreams = _streamsBlockedBidi ? _peerMaxStreamsBidi : _peerMaxStreamsUni };
            if (f.TryWrite(ref w)) { _streamsBlockedPending = false; Add(rec, SentFrameKind.StreamsBlocked); }
        }
        if (_dataBlockedPending && new DataBlockedFrame { MaximumData = _peerMaxData }.TryWrite(ref w)) { _dataBlockedPending = false; Add(rec, SentFrameKind.DataBlocked); }
        if (_cidFramesPending) WriteConnectionIdFrames(ref w, rec);
        if (_controlPending.Count > 0)
        {
            _controlScratch.Clear();
            foreach (long id in _controlPending)
            {
                if (!_streams.TryGetValue(id, out var s)) { _controlScratch.Add(id); continue; }
                bool done = true;
                if (s.ResetPending)
                {
                    if (new ResetStreamFrame { StreamId = (ulong)id, ErrorCode = (ulong)s.ResetErrorCode!.Value, FinalSize = s.PeerFinalSizeForReset }.TryWrite(ref w))
                    { s.ResetPending = false; Add(rec, SentFrameKind.ResetStream, (ulong)id); }
                    else done = false;
                }
                if (s.StopSendingPending)
                {
                    if (new StopSendingFrame { StreamId = (ulong)id, ErrorCode = (ulong)s.StopSendingCode!.Value }.TryWrite(ref w))
                    { s.StopSendingPending = false; Add(rec, SentFrameKind.StopSending, (ulong)id); }
                    else done = false;
                }
                if (s.MaxStreamDataPending)
                {
                    if (s.Recv is null || s.Recv.FinalSize is not null || s.PeerResetCode is not null) s.MaxStreamDataPending = false;
                    else if (new MaxStreamDataFrame { StreamId = (ulong)id, MaximumStreamData = s.LocalMaxStreamData }.TryWrite(ref w))
                    { s.MaxStreamDataPending = false; Add(rec, SentFrameKind.MaxStreamData, (ulong)id); }
                    else done = false;
                }
                if (s.StreamDataBlockedPending)
                {
                    if (new StreamDataBlockedFrame { StreamId = (ulong)id, MaximumStreamData = s.PeerMaxStreamData }.TryWrite(ref w))
                    { s.StreamDataBlockedPending = false; Add(rec, SentFrameKind.StreamDataBlocked, (ulong)id); }
                    else done = false;
                }
                if (done) _controlScratch.Add(id);
            }
            foreach (long id in _controlScratch)
            {
                _controlPending.Remove(id);
                if (_streams.TryGetValue(id, out var s)) MaybeRemove(s);
            }
        }
        while (_datagramsOut.Count > 0)
        {
            var d = _datagramsOut.Peek();
            if (!new DatagramFrame { Data = d }.TryWrite(ref w)) break;
            _datagramsOut.Dequeue();
            rec.AckEliciting = true;
        }
        WriteStreamFrames(ref w, rec);
    }

    private static void Add(SentPacket rec, SentFrameKind kind, ulong streamId = 0)
    {
        rec.AckEliciting = true;
        rec.Frames.Add(new SentFrame { Kind = kind, StreamId = streamId });
    }

    private void WriteStreamFrames(ref QuicWriter w, SentPacket rec)
    {
        int rounds = _sendQueue.Count;
        while (rounds-- > 0 && _sendQueue.Count > 0 && w.Remaining > 24)
        {
            var s = _sendQueue.Dequeue();
            s.InSendQueue = false;
            var sb = s.Send!;
            if (s.ResetErrorCode is not null || !sb.HasPending) continue;
            ulong id = (ulong)s.Id;
            while (w.Remaining > 24 && sb.HasPending)
            {
                // the frame's header from the offset the chunk starts at: a fixed guess (8-byte offset, 2-byte length) let a
                // frame of > 16383 bytes (datagrams above 16 KiB) at an offset ≥ 2^30 (8-byte varint) overrun the packet by 2 bytes
                ulong nextOff = sb.NextChunkOffset;
                int prefix = 1 + QuicVarint.GetEncodedLength(id) + (nextOff > 0 ? QuicVarint.GetEncodedLength(nextOff) : 0);
                int room = StreamFrame.MaxDataLength(w.Remaining, prefix);
                if (room <= 0) break;
                // flow control for new data
                ulong connCredit = _peerMaxData > _sentData ? _peerMaxData - _sentData : 0;
                ulong flowLimit = Math.Min(s.PeerMaxStreamData, sb.SendEnd + connCredit);
                if (!sb.TryNextChunk(room, flowLimit, out ulong off, out int len, out bool fin, out bool isNew))
                {
                    if (sb.HasNew && !sb.HasLost)
                    {
                        if (sb.SendEnd >= s.PeerMaxStreamData && s.BlockedSentAt != s.PeerMaxStreamData)
                        { s.BlockedSentAt = s.PeerMaxStreamData; s.StreamDataBlockedPending = true; _controlPending.Add(s.Id); }
                        if (connCredit == 0 && _dataBlockedSentAt != _peerMaxData) { _dataBlockedSentAt = _peerMaxData; _dataBlockedPending = true; }
                    }
                    break;
                }
                System.Diagnostics.Debug.Assert(StreamFrame.HeaderLength(id, off, len) + len <= w.Remaining, "STREAM frame overruns the packet");
                if (isNew) _sentData += (ulong)len;
                byte type = (byte)((byte)FrameType.Stream | StreamFrame.LenBit | (off > 0 ? StreamFrame.OffBit : 0) | (fin ? StreamFrame.FinBit : 0));
                w.TryWriteByte(type);
                w.TryWriteVarint(id);
                if (off > 0) w.TryWriteVarint(off);
                w.TryWriteVarint((ulong)len);
                PlaceStreamData(sb, off, len, w.Buffer.Slice(w.Position, len), w.Position);
                w.Advance(len);
                rec.AckEliciting = true;
                rec.Frames.Add(new SentFrame { Kind = SentFrameKind.Stream, StreamId = id, Offset = off, Length = len, Fin = fin });
            }
            if (sb.HasPending && !s.InSendQueue && (sb.HasLost || sb.SendEnd < s.PeerMaxStreamData && _sentData < _peerMaxData || (sb.FinWritten && !sb.FinSent)))
            { s.InSendQueue = true; _sendQueue.Enqueue(s); }
        }
    }

    private void OnFrameAcked(PacketSpace space, in SentFrame f)
    {
        switch (f.Kind)
        {
            case SentFrameKind.Crypto: space.CryptoSend.OnAcked(f.Offset, f.Length, false); break;
            case SentFrameKind.Stream:
                if (_streams.TryGetValue((long)f.StreamId, out var s) && s.Send is not null && s.ResetErrorCode is null)
                {
                    int free = s.Send.FreeSpace;
                    s.Send.OnAcked(f.Offset, f.Length, f.Fin);
                    // wake a blocked writer once a quarter of the buffer is free (not on every ACK)
                    if (s.WantsWritable && s.Send.FreeSpace > free && s.Send.FreeSpace >= _options.StreamSendBufferLimit / 4)
                    { s.WantsWritable = false; Emit(CoreEventKind.StreamWritable, s.Id); }
                    if (s.Send.AllAcked) { Emit(CoreEventKind.StreamWritable, s.Id); MaybeRemove(s); }
                }
                break;
            case SentFrameKind.ResetStream:
                if (_streams.TryGetValue((long)f.StreamId, out var rs)) { rs.ResetAcked = true; MaybeRemove(rs); }
                break;
        }
    }

    private void OnFrameLost(PacketSpace space, in SentFrame f)
    {
        switch (f.Kind)
        {
            case SentFrameKind.Crypto: if (!space.Discarded) space.CryptoSend.OnLost(f.Offset, f.Length, false); break;
            case SentFrameKind.Stream:
                if (_streams.TryGetValue((long)f.StreamId, out var s) && s.Send is not null && s.ResetErrorCode is null)
                {
                    s.Send.OnLost(f.Offset, f.Length, f.Fin);
                    if (!s.InSendQueue) { s.InSendQueue = true; _sendQueue.Enqueue(s); }
                }
                break;
            case SentFrameKind.MaxData: _maxDataPending = true; break;
            case SentFrameKind.MaxStreamsBidi: _maxStreamsBidiPending = true; break;
            case SentFrameKind.MaxStreamsUni: _maxStreamsUniPending = true; break;
            case SentFrameKind.HandshakeDone: _handshakeDonePending = true; break;
            case SentFrameKind.MaxStreamData:
                if (_streams.TryGetValue((long)f.StreamId, out var ms) && ms.Recv is not null && ms.Recv.FinalSize is null) { ms.MaxStreamDataPending = true; _controlPending.Add(ms.Id); }
                break;
            case SentFrameKind.ResetStream:
                if (_streams.TryGetValue((long)f.StreamId, out var rs)) { rs.ResetPending = true; _controlPending.Add(rs.Id); }
                break;
            case SentFrameKind.StopSending:
                if (_streams.TryGetValue((long)f.StreamId, out var ss) && ss.PeerResetCode is null && ss.Recv is not null && !ss.Recv.IsFinished) { ss.StopSendingPending = true; _controlPending.Add(ss.Id); }
                break;
            case SentFrameKind.NewConnectionId: OnNewConnectionIdLost(f.Offset); break;
            case SentFrameKind.RetireConnectionId: _retirePending.Add(f.Offset); _cidFramesPending = true; break;
        }
    }

    private void FailAllStreams()
    {
        foreach (var s in _streams.Values)
        {
            Emit(CoreEventKind.StreamReadable, s.Id);
            Emit(CoreEventKind.StreamWritable, s.Id);
        }
        Emit(CoreEventKind.StreamsAvailable);
    }
}
