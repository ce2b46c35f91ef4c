using System.Buffers.Binary;
using OspBridge.WebRtc.Sctp.Chunks;
using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Sctp;

// Stream reset (RFC 6525): Outgoing SSN Reset Requests for closing data channels, responses, deferred processing
// of the peer's requests until our cumulative TSN reaches its last assigned TSN.
public sealed partial class SctpAssociation
{
    private const int MaxStreamsPerRequest = 256;

    private uint _reconfigRequestSeq;
    private uint _peerReconfigSeq;
    private ReconfigResult _lastPeerResult = ReconfigResult.SuccessPerformed;
    private int _resetWanted;
    private bool _reconfigInFlight;
    private bool _sendReconfigRequest;
    private uint _reconfigInFlightSeq;
    private uint _reconfigInFlightLastTsn;
    private readonly ushort[] _reconfigStreams = new ushort[MaxStreamsPerRequest];
    private int _reconfigStreamCount;
    private TimeSpan? _reconfigTimer;
    private bool _deferredReset;
    private uint _deferredSeq;
    private uint _deferredLastTsn;
    private readonly ushort[] _deferredStreams = new ushort[MaxStreamsPerRequest];
    private int _deferredStreamCount;
    private readonly Queue<(uint Seq, ReconfigResult Result)> _reconfigResponses = new();

    /// <summary>
    /// Resets outgoing streams (RFC 6525 Outgoing SSN Reset Request), as closing a data channel requires (RFC 8831 §6.7).
    /// Messages already queued on them are sent first; new sends on them fail until
    /// <see cref="SctpEventKind.OutgoingStreamReset"/> reports completion (then their SSNs restart at 0).
    /// </summary>
    public void ResetOutgoingStreams(ReadOnlySpan<ushort> streamIds)
    {
        if (State != SctpState.Established)
        {
            throw new WebRtcException(WebRtcError.InvalidState, $"Cannot reset streams in state {State}.");
        }
        if (!_peerReconfig)
        {
            throw new WebRtcException(WebRtcError.InvalidState, "The peer does not support RE-CONFIG (stream reset).");
        }
        foreach (var s in streamIds)
        {
            if (s >= _outStreamCount)
            {
                throw new WebRtcException(WebRtcError.InvalidArgument, $"Stream {s} is beyond the negotiated outbound streams.");
            }
        }
        foreach (var s in streamIds)
        {
            if (_outStreams[s].Reset == 0)
            {
                _outStreams[s].Reset = 1;
                _resetWanted++;
            }
        }
    }

    /// <summary>True while a reset of outgoing stream <paramref name="streamId"/> is pending or in flight.</summary>
    public bool IsOutgoingResetPending(ushort streamId) => streamId < _outStreams.Length && _outStreams[streamId].Reset != 0;

    private int WriteReconfig(Span<byte> buf, int pos, TimeSpan now)
    {
        while (_reconfigResponses.Count > 0 && pos + 24 <= buf.Length)
        {
            var (seq, result) = _reconfigResponses.Dequeue();
            int plen = new ReconfigurationResponseParameter(seq, result).Write(buf.Slice(pos + 4)); // 12 bytes, no padding
            pos += ReconfigChunk.WriteHeader(buf.Slice(pos), plen);
        }
        if (!_reconfigInFlight && _resetWanted > 0)
        {
            int n = 0;
            for (int s = 0; s < _outStreamCount && n < MaxStreamsPerRequest; s++)
            {
                ref var st = ref _outStreams[s];
                if (st.Reset == 1 && st.Queued == 0)
                {
                    st.Reset = 2;
                    _resetWanted--;
                    _reconfigStreams[n++] = (ushort)s;
                }
            }
            if (n > 0)
            {
                _reconfigStreamCount = n;
                _reconfigInFlight = true;
                _reconfigInFlightSeq = _reconfigRequestSeq++;
                _reconfigInFlightLastTsn = _nextTsn - 1;
                _sendReconfigRequest = true;
            }
        }
        if (_sendReconfigRequest && pos + 4 + OutgoingSsnResetRequestParameter.FixedLength + 4 + (2 * _reconfigStreamCount) <= buf.Length)
        {
            _sendReconfigRequest = false;
            OutgoingSsnResetRequestParameter.Write(buf.Slice(pos + 4), _reconfigInFlightSeq, _peerReconfigSeq - 1,
                _reconfigInFlightLastTsn, _reconfigStreams.AsSpan(0, _reconfigStreamCount));
            pos += ReconfigChunk.WriteHeader(buf.Slice(pos), 4 + OutgoingSsnResetRequestParameter.FixedLength + (2 * _reconfigStreamCount));
            _reconfigTimer = now + _rto.Rto;
        }
        return pos;
    }

    private void OnReconfigTimer(TimeSpan now)
    {
        _reconfigTimer = null;
        if (_reconfigInFlight)
        {
            _sendReconfigRequest = true;
        }
    }

    private void HandleReconfig(ReadOnlySpan<byte> value, TimeSpan now)
    {
        if (State < SctpState.Established || !ReconfigChunk.TryValidate(value))
        {
            return;
        }
        var r = new SctpParameterReader(value);
        while (r.TryRead(out var type, out var v))
        {
            switch (type)
            {
                case SctpParameterType.OutgoingSsnResetRequest:
                    if (OutgoingSsnResetRequestParameter.TryParse(v, out var req))
                    {
                        HandlePeerOutgoingReset(req);
                    }
                    break;
                case SctpParameterType.IncomingSsnResetRequest:
                    if (IncomingSsnResetRequestParameter.TryParse(v, out var inc))
                    {
                        HandlePeerIncomingReset(inc);
                    }
                    break;
                case SctpParameterType.ReconfigurationResponse:
                    if (ReconfigurationResponseParameter.TryParse(v, out var resp))
                    {
                        HandleReconfigResponse(resp, now);
                    }
                    break;
                default:
                    // SSN/TSN reset and add-streams requests are not supported: deny them.
                    if (v.Length >= 4 && type is SctpParameterType.SsnTsnResetRequest or SctpParameterType.AddOutgoingStreamsRequest or SctpParameterType.AddIncomingStreamsRequest)
                    {
                        Respond(BinaryPrimitives.ReadUInt32BigEndian(v), ReconfigResult.Denied);
                    }
                    break;
            }
        }
    }

    private void Respond(uint seq, ReconfigResult result)
    {
        if (_reconfigResponses.Count < 8)
        {
            _reconfigResponses.Enqueue((seq, result));
        }
    }

    private bool CheckRequestSequence(uint seq)
    {
        if (seq == _peerReconfigSeq)
        {
            return true;
        }
        Respond(seq, seq == _peerReconfigSeq - 1 ? _lastPeerResult : ReconfigResult.ErrorBadSequenceNumber);
        return false;
    }

    private void HandlePeerOutgoingReset(OutgoingSsnResetRequestParameter req)
    {
        if (!CheckRequestSequence(req.RequestSequence))
        {
            return;
        }
        if (_deferredReset)
        {
            Respond(req.RequestSequence, ReconfigResult.InProgress);
            return;
        }
        if (req.StreamCount > MaxStreamsPerRequest)
        {
            _peerReconfigSeq++;
            _lastPeerResult = ReconfigResult.Denied;
            Respond(req.RequestSequence, ReconfigResult.Denied);
            return;
        }
        for (int i = 0; i < req.StreamCount; i++)
        {
            _deferredStreams[i] = req.Stream(i);
        }
        _deferredStreamCount = req.StreamCount;
        _deferredSeq = req.RequestSequence;
        _deferredLastTsn = req.LastAssignedTsn;
        _deferredReset = true;
        if (!CheckDeferredReset())
        {
            // Not everything up to the peer's last TSN has arrived: answer "in progress", perform it later (RFC 6525 §5.2.2).
            Respond(req.RequestSequence, ReconfigResult.InProgress);
        }
    }

    /// <summary>Performs a deferred incoming reset once the cumulative TSN reaches the peer's last assigned TSN.</summary>
    private bool CheckDeferredReset()
    {
        if (!_deferredReset || SerialNumber.Gt(_deferredLastTsn, _peerCumTsn))
        {
            return false;
        }
        _deferredReset = false;
        if (_deferredStreamCount == 0)
        {
            for (int s = 0; s < _inStreamCount; s++)
            {
                if (_inStreams[s] is { } st)
                {
                    ResetIncoming((ushort)s, st);
                }
            }
        }
        for (int i = 0; i < _deferredStreamCount; i++)
        {
            ushort sid = _deferredStreams[i];
            if (sid < _inStreamCount)
            {
                ResetIncoming(sid, In(sid));
            }
        }
        _peerReconfigSeq++;
        _lastPeerResult = ReconfigResult.SuccessPerformed;
        Respond(_deferredSeq, ReconfigResult.SuccessPerformed);
        _sackNeeded = true;
        _sackDueNow = true;
        return true;
    }

    private void ResetIncoming(ushort sid, InStream s)
    {
        if (s.Pending is { Count: > 0 } p)
        {
            foreach (var m in p.Values)
            {
                _rxBuffered -= m.Data.Length;
            }
            p.Clear();
        }
        s.NextSsn = 0;
        s.DiscardOrdered = false;
        s.DiscardUnordered = false;
        _events.Enqueue(new SctpEvent(SctpEventKind.IncomingStreamReset, sid));
    }

    private void HandlePeerIncomingReset(IncomingSsnResetRequestParameter req)
    {
        if (!CheckRequestSequence(req.RequestSequence))
        {
            return;
        }
        _peerReconfigSeq++;
        _lastPeerResult = ReconfigResult.SuccessPerformed;
        for (int i = 0; i < req.StreamCount; i++)
        {
            ushort s = req.Stream(i);
            if (s < _outStreamCount && _outStreams[s].Reset == 0)
            {
                _outStreams[s].Reset = 1;
                _resetWanted++;
            }
        }
        Respond(req.RequestSequence, ReconfigResult.SuccessPerformed);
    }

    private void HandleReconfigResponse(ReconfigurationResponseParameter resp, TimeSpan now)
    {
        if (!_reconfigInFlight || resp.ResponseSequence != _reconfigInFlightSeq)
        {
            return;
        }
        switch (resp.Result)
        {
            case ReconfigResult.SuccessPerformed:
            case ReconfigResult.SuccessNothingToDo:
                for (int i = 0; i < _reconfigStreamCount; i++)
                {
                    ushort s = _reconfigStreams[i];
                    _outStreams[s].Reset = 0;
                    _outStreams[s].NextSsn = 0;
                    _events.Enqueue(new SctpEvent(SctpEventKind.OutgoingStreamReset, s));
                }
                break;
            case ReconfigResult.InProgress:
            case ReconfigResult.ErrorRequestAlreadyInProgress:
                _reconfigTimer = now + _rto.Rto; // ask again (same sequence number) after an RTO
                return;
            default:
                // Denied or failed: give up on these streams (they stay usable with their current SSNs).
                for (int i = 0; i < _reconfigStreamCount; i++)
                {
                    _outStreams[_reconfigStreams[i]].Reset = 0;
                }
                break;
        }
        _reconfigInFlight = false;
        _reconfigTimer = null;
    }
}
