using OspBridge.Crypto;
using OspBridge.Crypto.Tls;
using OspBridge.Net.Core;
using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Core;

internal sealed partial class ConnectionCore
{
    private bool _receivedAny;
    private bool _addressValidated;
    private long _amplificationReceived, _amplificationSent;
    private byte[]? _peerInitialScid;
    private TimeSpan _idleDeadline = TimeSpan.MaxValue;
    private TimeSpan _peerIdle;
    private bool _ackElicitingSentSinceReceive;

    // 1-RTT key update state (RFC 9001 §6)
    private int _keyPhase;
    private PacketKeys? _nextReadKeys, _prevReadKeys;
    private ulong _keyPhaseStartPn;            // first packet number sent in the current phase
    private long _largestPnInPhase = -1;        // largest received in current read phase
    private TimeSpan _prevKeysDiscardAt = TimeSpan.MaxValue;
    private bool _keyUpdateAcked = true;       // an ACK for a packet in the current phase arrived
    private long _packetsInPhase;

    // RFC 9001 §6.6 usage limits
    private long _sealedInPhase;               // 1-RTT packets sealed with the current write key
    private long _authenticationFailures;      // Handshake/1-RTT packets that failed to decrypt, all keys
    private bool _aeadLimitReached;

    /// <summary>1-RTT packets sealed with the current write key (the RFC 9001 §6.6 confidentiality count).</summary>
    public long PacketsSealedInPhase => _sealedInPhase;

    /// <summary>Received Handshake/1-RTT packets that failed authentication (the RFC 9001 §6.6 integrity count).</summary>
    public long AuthenticationFailures => _authenticationFailures;

    private long ConfidentialityLimit(PacketSpace space) =>
        _options.AeadConfidentialityLimit > 0 ? _options.AeadConfidentialityLimit : space.WriteKeys?.Suite.ConfidentialityLimit ?? long.MaxValue;

    /// <summary>After sealing a 1-RTT packet: start a key update before the key's limit, close if none is possible in time.</summary>
    private void CountSealed(PacketSpace space, TimeSpan now)
    {
        long limit = ConfidentialityLimit(space);
        if (++_sealedInPhase < limit - limit / 4) return;
        if (TryAutomaticKeyUpdate(now)) return;
        if (_sealedInPhase >= limit - limit / 16) _aeadLimitReached = true; // closes on the next transmit
    }

    private void CountAuthenticationFailure(PacketSpace space)
    {
        if (space.Index == 0) return; // Initial keys are public: forging them proves nothing about the AEAD
        long limit = _options.AeadIntegrityLimit > 0 ? _options.AeadIntegrityLimit : space.ReadKeys?.Suite.IntegrityLimit ?? long.MaxValue;
        if (++_authenticationFailures >= limit)
            throw QuicException.Transport(TransportErrorCode.AeadLimitReached, "AEAD integrity limit reached: " + _authenticationFailures + " packets failed authentication");
    }

    public int KeyPhase => _keyPhase;
    public int KeyUpdates { get; private set; }

    /// <summary>
    /// Processes one received UDP datagram (decrypted in place, so the span is modified). <paramref name="path"/>'s
    /// <c>Remote</c> is the peer's address: the server learns where to send from the first datagram.
    /// </summary>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        Advance(now);
        if (State == CoreState.Closed) return;
        if (_peerAddress is null && path.Remote is not null) _peerAddress = path.Remote;
        if (_localAddress is null && path.Local is not null) _localAddress = path.Local;
        StartHandshakeClock(now);
        _lastReceived = now;
        BytesReceived += datagram.Length;
        if (!_addressValidated) _amplificationReceived += datagram.Length;
        try
        {
            ReceiveCore(datagram, now);
        }
        catch (QuicException e) when (e.TransportErrorCode is long code)
        {
            CloseOnError((TransportErrorCode)code, e.Message, now);
        }
        catch (CryptoException e)
        {
            CloseOnError(TransportErrorCode.CryptoError + (e.Alert == 0 ? (byte)80 : e.Alert), e.Message, now);
        }
    }

    private void ReceiveCore(Span<byte> datagram, TimeSpan now)
    {
        int offset = 0;
        int guard = 0;
        while (offset < datagram.Length && guard++ < 16)
        {
            var rest = datagram[offset..];
            if (!PacketHeader.TryParse(rest, _localCid.Length, out var h)) return;
            var packet = rest[..h.PacketLength];
            offset += h.PacketLength;
            if (h.IsLong)
            {
                if (h.Version == 0) { OnVersionNegotiation(packet, h, now); return; }
                if (h.Version != PacketHeader.Version1) return;
                if (h.Type == LongPacketType.Retry) { OnRetry(packet, h, now); return; }
                if (h.Type == LongPacketType.ZeroRtt) continue;
            }
            if (State == CoreState.Draining) return;
            int si = !h.IsLong ? 2 : h.Type == LongPacketType.Initial ? 0 : 1;
            var space = _spaces[si];
            if (space.Discarded || space.ReadKeys is null) continue;
            if (h.IsLong && (h.FirstByte & 0x40) == 0) continue; // fixed bit
            if (!ProcessPacket(packet, h, space, now)) 
            {
                if (!h.IsLong && IsStatelessReset(packet)) { EnterDraining(new QuicException(QuicError.ConnectionAborted, null, "stateless reset"), now); SetClosed(); return; }
                continue;
            }
        }
    }

    private bool ProcessPacket(Span<byte> packet, in PacketHeader h, PacketSpace space, TimeSpan now)
    {
        var hp = space.ReadKeys!.HeaderProtection;
        if (packet.Length < h.PnOffset + 20) return false;
        byte savedFirst = packet[0];
        uint savedPn = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(packet.Slice(h.PnOffset, 4));
        if (!PacketProtector.TryRemoveHeaderProtection(hp, packet, h.PnOffset, out int pnLen, out uint tpn)) return false;
        ulong pn = PacketNumber.Decode(space.LargestReceived, tpn, pnLen * 8);
        var keys = space.ReadKeys!;
        bool phaseFlip = false;
        if (!h.IsLong)
        {
            int phase = (packet[0] >> 2) & 1;
            if (phase != _readPhase)
            {
                if (_prevReadKeys is not null && (long)pn < (long)_keyPhaseStartPnRecv) keys = _prevReadKeys;
                else if (_nextReadKeys is not null) { keys = _nextReadKeys; phaseFlip = true; }
                else return false;
            }
        }
        bool placed = false;
        int payloadOffset, payloadLength;
        if (!(!h.IsLong && keys.CanGather && !GatherDisabled
                ? TryDecryptPlacing(keys, packet, h.PnOffset, pnLen, pn, out payloadOffset, out payloadLength, out placed)
                : PacketProtector.TryDecrypt(keys, packet, h.PnOffset, pnLen, pn, out payloadOffset, out payloadLength)))
        {
            // restore the header so a stateless-reset check sees the original bytes
            packet[0] = savedFirst;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(packet.Slice(h.PnOffset, 4), savedPn);
            CountAuthenticationFailure(space);
            return false;
        }
        if (h.IsLong && (packet[0] & 0x0c) != 0) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "reserved bits set");
        if (!h.IsLong && (packet[0] & 0x18) != 0) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "reserved bits set");
        if (phaseFlip) OnPeerKeyUpdate(pn, now);
        if (pn < space.DuplicateFloor || space.Received.Contains(pn)) return true;
        PacketsReceived++;
        if (IsClient && !_receivedAny && h.IsLong)
        {
            // RFC 9000 §7.2: switch to the server's chosen connection ID
            _peerCid = packet.Slice(h.ScidOffset, h.ScidLength).ToArray();
            _peerCids[0] = new PeerCid(0, _peerCid, null);
        }
        if (!IsClient && h.IsLong && _peerInitialScid is null) _peerInitialScid = packet.Slice(h.ScidOffset, h.ScidLength).ToArray();
        if (IsClient && h.IsLong && _peerInitialScid is null) _peerInitialScid = packet.Slice(h.ScidOffset, h.ScidLength).ToArray();
        _receivedAny = true;
        if (!IsClient && space.Index == 1 && !_addressValidated) _addressValidated = true;

        bool ackEliciting;
        _placedActive = placed;
        try { ackEliciting = ProcessFrames(packet.Slice(payloadOffset, payloadLength), space, now); }
        finally { _placedActive = false; }

        space.Received.Add(pn, pn + 1);
        if ((long)pn > space.LargestReceived)
        {
            if (space.LargestReceived >= 0 && pn > (ulong)space.LargestReceived + 1 && ackEliciting) space.AckImmediately = true;
            space.LargestReceived = (long)pn;
            space.LargestReceivedTime = now;
        }
        else if (ackEliciting) space.AckImmediately = true; // out of order
        if (!h.IsLong && (long)pn > _largestPnInPhase) _largestPnInPhase = (long)pn;
        if (ackEliciting)
        {
            space.AckNeeded = true;
            space.AckElicitingSinceAck++;
            if (space.Index < 2 || space.AckElicitingSinceAck >= 2) space.AckImmediately = true;
            else if (space.AckDeadline == TimeSpan.MaxValue) space.AckDeadline = now + _options.MaxAckDelay;
        }
        // idle timer restart (RFC 9000 §10.1)
        _idleDeadline = now + EffectiveIdleTimeout();
        _ackElicitingSentSinceReceive = false;
        if (!IsClient && space.Index == 1) DiscardSpace(_spaces[0]);
        if (State == CoreState.Closing) _closeFramePending = _closesSent < 16;
        return true;
    }

    private ulong _keyPhaseStartPnRecv;
    private int _readPhase;

    private void OnPeerKeyUpdate(ulong pn, TimeSpan now)
    {
        // Peer initiated (or answered) a key update: rotate read keys, and our write keys if we did not start it.
        var space = _spaces[2];
        _prevReadKeys?.Dispose();
        _prevReadKeys = space.ReadKeys;
        space.ReadKeys = _nextReadKeys;
        _nextReadKeys = space.ReadKeys!.NextPhase();
        _keyPhaseStartPnRecv = pn;
        _readPhase ^= 1;
        _prevKeysDiscardAt = now + 3 * PtoDuration(2);
        if (_localKeyUpdatePending)
        {
            _localKeyUpdatePending = false; // we initiated; peer responded
        }
        else
        {
            var old = space.WriteKeys!;
            space.WriteKeys = old.NextPhase();
            _keyPhaseStartPn = space.NextPn;
            _keyUpdateAcked = false;
            _keyPhase ^= 1;
            _sealedInPhase = 0;
            KeyUpdates++;
        }
    }

    private bool _localKeyUpdatePending;
    private TimeSpan _keyUpdateAckedAt; // when the ACK confirming the current phase arrived

    /// <summary>
    /// A key update we start on our own (interval, confidentiality limit): as <see cref="InitiateKeyUpdate"/>, and not
    /// before three PTOs (the 1-RTT PTO, the peer's max_ack_delay included) have passed since the ACK that confirmed the
    /// previous update (RFC 9001 §6.5 SHOULD): the peer may hold its old read keys that long and take a quick next phase
    /// bit for the old phase. Measured against gtlsserver with an update every 100 packets: an 8 MB upload took 4–10 s
    /// without the wait, about 4 s with a wait of 3 PTO without max_ack_delay
    /// (≈ 3 ms on loopback), 0.9 s with this one.
    /// </summary>
    private bool TryAutomaticKeyUpdate(TimeSpan now)
    {
        if (KeyUpdates > 0 && now < _keyUpdateAckedAt + 3 * PtoDuration(2)) return false;
        return InitiateKeyUpdate();
    }

    /// <summary>Starts a 1-RTT key update (RFC 9001 §6.1) if allowed; returns false when not yet possible.</summary>
    public bool InitiateKeyUpdate()
    {
        var space = _spaces[2];
        if (!IsHandshakeConfirmed || !_keyUpdateAcked || _localKeyUpdatePending || space.WriteKeys is null) return false;
        var old = space.WriteKeys;
        space.WriteKeys = old.NextPhase();
        _keyPhase ^= 1;
        _keyPhaseStartPn = space.NextPn;
        _keyUpdateAcked = false;
        _localKeyUpdatePending = true;
        _packetsInPhase = 0;
        _sealedInPhase = 0;
        KeyUpdates++;
        return true;
    }

    private bool IsStatelessReset(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < StatelessReset.MinLength) return false;
        var tail = packet[^16..];
        foreach (var c in _peerCids)
            if (c.ResetToken is { } t && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(t, tail)) return true;
        return false;
    }

    private void OnVersionNegotiation(ReadOnlySpan<byte> packet, in PacketHeader h, TimeSpan now)
    {
        if (!IsClient || _receivedAny || State != CoreState.Handshaking) return;
        if (!packet.Slice(h.DcidOffset, h.DcidLength).SequenceEqual(_localCid)) return;
        var list = packet[(h.ScidOffset + h.ScidLength)..];
        if (VersionNegotiationPacket.Contains(list, PacketHeader.Version1)) return; // spurious
        CloseReason = new QuicException(QuicError.VersionNegotiationError, null, "server does not support QUIC v1");
        FailAllStreams();
        SetClosed();
    }

    private void OnRetry(ReadOnlySpan<byte> packet, in PacketHeader h, TimeSpan now)
    {
        if (!IsClient || _receivedAny || _retrySourceCid is not null || State != CoreState.Handshaking) return;
        if (h.TokenLength <= 0) return;
        if (!RetryIntegrity.Verify(_peerCid, packet)) return;
        _retrySourceCid = packet.Slice(h.ScidOffset, h.ScidLength).ToArray();
        _token = packet.Slice(h.TokenOffset, h.TokenLength).ToArray();
        _peerCid = _retrySourceCid;
        _peerCids[0] = new PeerCid(0, _peerCid, null);
        var space = _spaces[0];
        space.ReadKeys?.Dispose();
        space.WriteKeys?.Dispose();
        var (read, write) = InitialSecrets.CreateKeys(_peerCid, true);
        space.ReadKeys = read;
        space.WriteKeys = write;
        // all Initial data must be resent; packet numbers continue (RFC 9000 §17.2.5.3)
        for (int i = space.SentHead; i < space.Sent.Count; i++)
        {
            var p = space.Sent[i];
            if (p.Done) continue;
            if (p.InFlight) _cc.OnDiscarded(p.Size);
            OnPacketLost(space, p, countLoss: false);
            p.Done = true;
        }
        space.AckElicitingInFlight = 0;
        space.CompactSent();
    }

    private TimeSpan EffectiveIdleTimeout()
    {
        var local = _options.IdleTimeout;
        var t = local <= TimeSpan.Zero ? _peerIdle : _peerIdle <= TimeSpan.Zero ? local : (local < _peerIdle ? local : _peerIdle);
        if (t <= TimeSpan.Zero) return TimeSpan.FromDays(3650);
        var min = 3 * PtoDuration(2);
        return t > min ? t : min;
    }

    private static QuicException FrameError(FrameType t) => QuicException.Transport(TransportErrorCode.FrameEncodingError, "malformed frame 0x" + ((ulong)t).ToString("x"));

    /// <summary>Processes the frames of one packet; returns true if any was ack-eliciting.</summary>
    private bool ProcessFrames(ReadOnlySpan<byte> payload, PacketSpace space, TimeSpan now)
    {
        if (payload.IsEmpty) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "packet without frames");
        var r = new QuicReader(payload);
        bool ackEliciting = false;
        bool handshakeSpace = space.Index < 2;
        while (!r.End)
        {
            int frameStart = r.Position;
            if (!r.TryReadVarint(out ulong typeValue)) throw QuicException.Transport(TransportErrorCode.FrameEncodingError, "bad frame type");
            var type = (FrameType)typeValue;
            if (handshakeSpace && type is not (FrameType.Padding or FrameType.Ping or FrameType.Ack or FrameType.AckEcn or FrameType.Crypto or FrameType.ConnectionClose))
                throw QuicException.Transport(TransportErrorCode.ProtocolViolation, $"frame 0x{typeValue:x} not allowed in Initial/Handshake");
            if (type is not (FrameType.Padding or FrameType.Ack or FrameType.AckEcn or FrameType.ConnectionClose or FrameType.ConnectionCloseApp)) ackEliciting = true;
            switch (type)
            {
                case FrameType.Padding: PaddingFrame.Skip(ref r); break;
                case FrameType.Ping: break;
                case FrameType.Ack:
                case FrameType.AckEcn:
                    {
                        if (!AckFrame.TryRead(ref r, type == FrameType.AckEcn, out var ack)) throw FrameError(type);
                        Counters.AckFrames++;
                        OnAckReceived(space, ack, now);
                        break;
                    }
                case FrameType.Crypto:
                    {
                        if (!CryptoFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        OnCryptoFrame(space, f.Offset, f.Data, now);
                        break;
                    }
                case FrameType.NewToken:
                    if (!NewTokenFrame.TryRead(ref r, out _)) throw FrameError(type);
                    if (!IsClient) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "NEW_TOKEN from client");
                    break;
                case >= FrameType.Stream and <= (FrameType)0x0f:
                    {
                        if (!StreamFrame.TryRead(ref r, (byte)typeValue, out var f)) throw FrameError(type);
                        // the frame whose data TryDecryptPlacing already put in place (its bytes here are ciphertext)
                        bool placedHere = _placedActive && frameStart == _placed.FrameStart;
                        if (placedHere) _placedActive = false;
                        OnStreamFrame(f.StreamId, f.Offset, f.Data, f.Fin, now, placedHere);
                        break;
                    }
                case FrameType.ResetStream:
                    {
                        if (!ResetStreamFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        OnResetStream(f);
                        break;
                    }
                case FrameType.StopSending:
                    {
                        if (!StopSendingFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        OnStopSending(f);
                        break;
                    }
                case FrameType.MaxData:
                    {
                        if (!MaxDataFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        Counters.MaxDataFrames++;
                        OnMaxData(f.MaximumData);
                        break;
                    }
                case FrameType.MaxStreamData:
                    {
                        if (!MaxStreamDataFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        Counters.MaxStreamDataFrames++;
                        OnMaxStreamData(f.StreamId, f.MaximumStreamData);
                        break;
                    }
                case FrameType.MaxStreamsBidi:
                case FrameType.MaxStreamsUni:
                    {
                        if (!MaxStreamsFrame.TryRead(ref r, type == FrameType.MaxStreamsBidi, out var f)) throw FrameError(type);
                        if (f.MaximumStreams > MaxStreamsFrame.Limit) throw QuicException.Transport(TransportErrorCode.FrameEncodingError, "MAX_STREAMS too large");
                        OnMaxStreams(f.Bidirectional, f.MaximumStreams);
                        break;
                    }
                case FrameType.DataBlocked:
                    if (!DataBlockedFrame.TryRead(ref r, out _)) throw FrameError(type);
                    break;
                case FrameType.StreamDataBlocked:
                    {
                        if (!StreamDataBlockedFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        ValidateStreamIdForReceive(f.StreamId);
                        break;
                    }
                case FrameType.StreamsBlockedBidi:
                case FrameType.StreamsBlockedUni:
                    {
                        if (!StreamsBlockedFrame.TryRead(ref r, type == FrameType.StreamsBlockedBidi, out var f)) throw FrameError(type);
                        if (f.MaximumStreams > MaxStreamsFrame.Limit) throw QuicException.Transport(TransportErrorCode.FrameEncodingError, "STREAMS_BLOCKED too large");
                        break;
                    }
                case FrameType.NewConnectionId:
                    {
                        if (!NewConnectionIdFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        OnNewConnectionId(f);
                        break;
                    }
                case FrameType.RetireConnectionId:
                    {
                        if (!RetireConnectionIdFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        OnRetireConnectionId(f.SequenceNumber);
                        break;
                    }
                case FrameType.PathChallenge:
                    {
                        if (!PathChallengeFrame.TryRead(ref r, out var f)) throw FrameError(type);
                        _pathResponsePending = true;
                        _pathResponseData = f.Data;
                        break;
                    }
                case FrameType.PathResponse:
                    if (!PathResponseFrame.TryRead(ref r, out _)) throw FrameError(type);
                    break;
                case FrameType.ConnectionClose:
                case FrameType.ConnectionCloseApp:
                    {
                        if (!ConnectionCloseFrame.TryRead(ref r, type == FrameType.ConnectionCloseApp, out var f)) throw FrameError(type);
                        string reason = System.Text.Encoding.UTF8.GetString(f.Reason[..Math.Min(f.Reason.Length, 256)]);
                        var ex = f.IsApplication
                            ? new QuicException(QuicError.ConnectionAborted, (long)f.ErrorCode, "peer closed the connection: " + reason)
                            : f.ErrorCode == 0
                                ? new QuicException(QuicError.ConnectionAborted, 0, "peer closed the connection (NO_ERROR) " + reason) { TransportErrorCode = 0 }
                                : QuicException.Transport((TransportErrorCode)f.ErrorCode, $"peer closed with transport error 0x{f.ErrorCode:x}: {reason}");
                        EnterDraining(ex, now);
                        return ackEliciting;
                    }
                case FrameType.HandshakeDone:
                    if (!IsClient) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "HANDSHAKE_DONE from client");
                    ConfirmHandshake(now);
                    break;
                case FrameType.Datagram:
                case FrameType.DatagramLen:
                    {
                        if (!DatagramFrame.TryRead(ref r, type == FrameType.DatagramLen, out var f)) throw FrameError(type);
                        OnDatagram(f.Data);
                        break;
                    }
                default:
                    throw QuicException.Transport(TransportErrorCode.FrameEncodingError, $"unknown frame type 0x{typeValue:x}");
            }
        }
        return ackEliciting;
    }

    private void OnCryptoFrame(PacketSpace space, ulong offset, ReadOnlySpan<byte> data, TimeSpan now)
    {
        if (offset + (ulong)data.Length > space.CryptoRecv.ReadOffset + (64 << 10))
            throw QuicException.Transport(TransportErrorCode.CryptoBufferExceeded, "CRYPTO data beyond buffer");
        if (!space.CryptoRecv.Insert(offset, data))
            throw QuicException.Transport(TransportErrorCode.CryptoBufferExceeded, "CRYPTO data beyond buffer");
        var level = space.Index switch { 0 => TlsEncryptionLevel.Initial, 1 => TlsEncryptionLevel.Handshake, _ => TlsEncryptionLevel.Application };
        while (space.CryptoRecv.Readable > 0)
        {
            var chunk = space.CryptoRecv.PeekContiguous();
            _tls.ProcessCryptoData(level, chunk);
            space.CryptoRecv.Skip(chunk.Length);
        }
        DrainTls(now);
    }

    private bool _pathResponsePending;
    private ulong _pathResponseData;
}
