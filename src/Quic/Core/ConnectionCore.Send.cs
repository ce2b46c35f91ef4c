using OspBridge.Net.Core;
using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Protection;
using OspBridge.Quic.Transport;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Core;

/// <summary>Packet assembly: coalesced Initial/Handshake/1-RTT packets per datagram, padding, amplification, CC, pacing.</summary>
internal sealed partial class ConnectionCore
{
    private int _maxDatagram;
    private bool _handshakeDonePending;

    private long AmplificationBudget => _addressValidated ? long.MaxValue : 3 * _amplificationReceived - _amplificationSent;

    private struct PendingPacket
    {
        public int Start, PnOffset, PnLength, PayloadStart, End, LengthFieldOffset;
        public ulong Pn;
        public PacketKeys Keys;
        public SentPacket Record;
        public int SpaceIndex;
        public int PieceStart, PieceCount; // this packet's SealPieces in _sealPieces (offsets relative to the packet)
    }

    /// <summary><c>OSPBRIDGE_QUIC_GATHER=0</c> (A/B runs): copy stream data into packets instead of encrypting it from the send ring.</summary>
    private static readonly bool GatherDisabled = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_GATHER") == "0";

    // Stream data of the datagram being assembled that is still in its send ring: Seal encrypts it from there into the
    // packet (one copy fewer per byte sent). Valid only within one TryWriteDatagram: nothing writes to or releases a
    // send buffer between writing a STREAM frame and sealing its packet.
    private readonly SealPiece[] _sealPieces = new SealPiece[32];
    private int _sealPieceCount;
    private bool _gatherStreamData;

    /// <summary>
    /// Writes the next datagram to send into <paramref name="destination"/> (≥ 1200 bytes, ideally the path MTU),
    /// addressed to the peer. Returns false when there is nothing to send now.
    /// </summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        Advance(now);
        bool ok = TryWriteDatagram(destination, now, out int length);
        transmit = ok ? new Transmit(length, new DatagramPath(_localAddress, _peerAddress)) : default;
        return ok;
    }

    private bool TryWriteDatagram(Span<byte> buffer, TimeSpan now, out int length)
    {
        length = 0;
        if (State == CoreState.Closed || State == CoreState.Draining) return false;
        if (_aeadLimitReached && State < CoreState.Closing)
            CloseOnError(TransportErrorCode.AeadLimitReached, "AEAD confidentiality limit reached and no key update possible", now);
        if (State == CoreState.Closing) return TryWriteClose(buffer, now, out length);
        if (_addressValidated && MtuProbeDue(buffer.Length))
        {
            length = WriteMtuProbe(buffer, now);
            return true;
        }
        int max = Math.Min(buffer.Length, _maxDatagram);
        long budget = AmplificationBudget;
        if (budget < max) max = (int)Math.Max(0, budget);
        if (max < 64) return false;

        bool probing = false;
        foreach (var sp in _spaces) if (!sp.Discarded && sp.ProbesPending > 0) probing = true;
        bool ccAllows = probing || _cc.CanSend(max);
        bool paced = false;
        if (ccAllows && !probing && HasAckElicitingToSend())
        {
            var delay = _cc.PacingDelay(max, now, _rtt.HasSample ? _rtt.SmoothedRtt : _options.InitialRtt);
            if (delay > TimeSpan.Zero) { paced = true; _pacingDeadline = now + delay; }
        }
        bool allowData = ccAllows && !paced;

        Span<PendingPacket> pending = _pendingScratch;
        int count = 0;
        int pos = 0;
        bool hasInitial = false, ackElicitingInitial = false;
        _sealPieceCount = 0;
        for (int si = 0; si < 3; si++)
        {
            var space = _spaces[si];
            if (space.Discarded || space.WriteKeys is null) continue;
            if (si == 2 && State == CoreState.Handshaking && !IsClient) continue; // server: 1-RTT only after handshake... (0.5-RTT not used)
            if (si == 2 && State == CoreState.Handshaking && IsClient && !_tls.IsHandshakeComplete) continue;
            int room = max - pos;
            if (room < 48) break;
            if (!WritePacket(buffer.Slice(pos, room), pos, space, now, allowData, ref pending[count], out int written)) continue;
            pending[count].Start = pos;
            if (si == 0) { hasInitial = true; ackElicitingInitial |= pending[count].Record.AckEliciting; }
            pos += written;
            count++;
        }
        if (count == 0)
        {
            if (!probing) _cc.OnSendStopped(windowFull: !ccAllows, paced);
            if (CoreCounters.Enabled) CountStop(ccAllows, paced);
            return false;
        }
        Counters.Datagrams++;

        // RFC 9000 §14.1: pad datagrams with client Initials / ack-eliciting server Initials to 1200 bytes
        if (hasInitial && (IsClient || ackElicitingInitial) && pos < MinInitialDatagram && max >= MinInitialDatagram)
        {
            ref var last = ref pending[count - 1];
            int pad = MinInitialDatagram - pos;
            buffer.Slice(last.End, pad).Clear();
            last.End += pad;
            last.Record.InFlight = true;
            pos += pad;
        }
        for (int i = 0; i < count; i++) Seal(buffer, ref pending[i], now);
        ClearSealPieces();
        length = pos;
        DatagramsSent++;
        BytesSent += pos;
        if (!_addressValidated) _amplificationSent += pos;
        if (IsClient && _spaces[1].WriteKeys is not null && !_spaces[0].Discarded && PendingHasSpace(pending[..count], 1)) DiscardSpace(_spaces[0]);
        return true;

        static bool PendingHasSpace(ReadOnlySpan<PendingPacket> p, int s)
        {
            foreach (var x in p) if (x.SpaceIndex == s) return true;
            return false;
        }
    }

    private readonly PendingPacket[] _pendingScratch = new PendingPacket[3];

    private void CountStop(bool ccAllows, bool paced)
    {
        if (!ccAllows) { Counters.StopCwnd++; return; }
        if (paced) { Counters.StopPacing++; return; }
        if (State == CoreState.Connected)
            foreach (var s in _streams.Values)
                if (s.Send is { HasNew: true } sb && (sb.SendEnd >= s.PeerMaxStreamData || _sentData >= _peerMaxData)) { Counters.StopFlowControl++; return; }
        Counters.StopIdle++;
    }

    private bool HasAckElicitingToSend()
    {
        foreach (var sp in _spaces)
            if (!sp.Discarded && sp.WriteKeys is not null && (sp.CryptoSend.HasPending || sp.ProbesPending > 0)) return true;
        return State == CoreState.Connected && HasAppDataToSend();
    }

    private void Seal(Span<byte> buffer, ref PendingPacket p, TimeSpan now)
    {
        var packet = buffer[p.Start..p.End];
        int pnOffset = p.PnOffset - p.Start;
        int payloadLength = p.End - p.PayloadStart;
        // ensure enough bytes for the header-protection sample (pn + payload ≥ 4)
        if (p.LengthFieldOffset >= 0)
        {
            int len = p.PnLength + payloadLength + PacketKeys.TagLength;
            QuicVarint.WriteFixed(buffer[p.LengthFieldOffset..], (ulong)len, 2);
        }
        int total;
        if (p.PieceCount == 0) total = PacketProtector.Protect(p.Keys, buffer[p.Start..], pnOffset, p.PnLength, p.Pn, payloadLength);
        else
        {
            var pieces = _sealPieces.AsSpan(p.PieceStart, p.PieceCount);
            int payloadInPacket = p.PayloadStart - p.Start;
            foreach (ref var piece in pieces) piece.Offset -= payloadInPacket;
            total = PacketProtector.Protect(p.Keys, buffer[p.Start..], pnOffset, p.PnLength, p.Pn, payloadLength, pieces);
        }
        var rec = p.Record;
        rec.Pn = p.Pn;
        rec.TimeSent = now;
        rec.Size = total;
        var space = _spaces[p.SpaceIndex];
        PacketsSent++;
        if (!rec.AckEliciting && !rec.InFlight)
        {
            // ACK-only / CONNECTION_CLOSE packets are never acknowledged: keep no record (bounded memory)
            ReturnSent(rec);
            return;
        }
        space.Sent.Add(rec);
        if (rec.AckEliciting)
        {
            rec.InFlight = true;
            space.AckElicitingInFlight++;
            space.LastAckElicitingSent = now;
            if (!_ackElicitingSentSinceReceive)
            {
                _ackElicitingSentSinceReceive = true;
                _idleDeadline = now + EffectiveIdleTimeout();
            }
            if (space.ProbesPending > 0) space.ProbesPending--;
        }
        if (rec.InFlight) _cc.OnSent(total, now);
        if (p.SpaceIndex == 2 && _options.KeyUpdateInterval > 0 && ++_packetsInPhase >= _options.KeyUpdateInterval) TryAutomaticKeyUpdate(now);
        if (p.SpaceIndex == 2) CountSealed(space, now);
    }

    /// <summary>Writes one packet's header and frames (unsealed); false when there is nothing to put in it.</summary>
    private bool WritePacket(Span<byte> buf, int absStart, PacketSpace space, TimeSpan now, bool allowData, ref PendingPacket pp, out int written)
    {
        written = 0;
        bool ackDue = space.AckNeeded && (space.AckImmediately || space.Index < 2);
        bool probe = space.ProbesPending > 0;
        bool hasData = allowData && (space.CryptoSend.HasPending || (space.Index == 2 && State == CoreState.Connected && HasAppDataToSend()));
        if (!ackDue && !probe && !hasData) return false;

        ulong pn = space.NextPn;
        int pnLen = PacketNumber.EncodedLength(pn, space.LargestAcked);
        // room for the header, a minimal payload and the AEAD tag
        if (buf.Length < HeaderLength(space, pnLen) + 20 + PacketKeys.TagLength) return false;
        int payloadStart = WriteHeader(buf, space, pn, pnLen, out int lengthField, out int pnOffset);
        int p = payloadStart;
        var rec = RentSent();
        var w = new QuicWriter(buf[..(buf.Length - PacketKeys.TagLength)]);
        w.Advance(p);
        int pieceStart = _sealPieceCount;
        _gatherStreamData = space.Index == 2 && !GatherDisabled && space.WriteKeys!.CanGather;

        // ACK first
        if (space.AckNeeded && !space.Received.IsEmpty)
        {
            ulong delayUs = (ulong)Math.Max(0, (now - space.LargestReceivedTime).Ticks / 10);
            if (AckFrame.TryWrite(ref w, space.Received, delayUs >> _options.AckDelayExponent))
            {
                rec.LargestAckSent = (long)(space.Received.Max - 1);
                space.AckNeeded = false;
                space.AckImmediately = false;
                space.AckElicitingSinceAck = 0;
                space.AckDeadline = TimeSpan.MaxValue;
            }
        }
        if (allowData || probe)
        {
            WriteCrypto(ref w, space, rec);
            if (space.Index == 2 && State == CoreState.Connected) WriteAppFrames(ref w, rec, now, allowData);
        }
        if (probe && !rec.AckEliciting && w.Remaining >= 1)
        {
            PingFrame.TryWrite(ref w);
            rec.AckEliciting = true;
            rec.Frames.Add(new SentFrame { Kind = SentFrameKind.Ping });
        }
        _gatherStreamData = false;
        if (w.Position == payloadStart) { ReturnSent(rec); return false; }
        // header protection sample needs pnLen + payload ≥ 4
        int minPayload = 4 - pnLen;
        if (w.Position - payloadStart < minPayload) PaddingFrame.TryWrite(ref w, minPayload - (w.Position - payloadStart));
        written = Complete(ref pp, space, absStart, pn, pnLen, pnOffset, lengthField, payloadStart, w.Position, rec);
        pp.PieceStart = pieceStart;
        pp.PieceCount = _sealPieceCount - pieceStart;
        return true;
    }

    private int HeaderLength(PacketSpace space, int pnLen)
        => PacketHeader.WrittenLength(space.Index < 2, space.Index == 0, _peerCid.Length, _localCid.Length, _token.Length, pnLen);

    /// <summary>Writes the header of the next packet of <paramref name="space"/>; returns where the payload starts.</summary>
    private int WriteHeader(Span<byte> buf, PacketSpace space, ulong pn, int pnLen, out int lengthField, out int pnOffset)
    {
        LongPacketType? type = space.Index switch { 0 => LongPacketType.Initial, 1 => LongPacketType.Handshake, _ => null };
        return PacketHeader.Write(buf, type, _peerCid, _localCid, space.Index == 0 ? _token : default, _keyPhase, pn, pnLen, out lengthField, out pnOffset);
    }

    /// <summary>Takes the packet number and records where the unsealed packet lies; returns its sealed size.</summary>
    private static int Complete(ref PendingPacket pp, PacketSpace space, int absStart, ulong pn, int pnLen, int pnOffset, int lengthField, int payloadStart, int end, SentPacket rec)
    {
        space.NextPn++;
        pp.PnOffset = absStart + pnOffset;
        pp.PnLength = pnLen;
        pp.PayloadStart = absStart + payloadStart;
        pp.End = absStart + end;
        pp.LengthFieldOffset = lengthField >= 0 ? absStart + lengthField : -1;
        pp.Pn = pn;
        pp.Keys = space.WriteKeys!;
        pp.Record = rec;
        pp.SpaceIndex = space.Index;
        pp.PieceStart = pp.PieceCount = 0;
        return end + PacketKeys.TagLength;
    }

    /// <summary>
    /// Puts stored stream bytes [<paramref name="offset"/>, +<paramref name="length"/>) into the packet at
    /// <paramref name="at"/> (packet-relative) of <paramref name="dest"/>: as pieces the seal encrypts from the ring when
    /// this packet gathers, else copied now.
    /// </summary>
    private void PlaceStreamData(SendBuffer sb, ulong offset, int length, Span<byte> dest, int at)
    {
        if (length == 0) return;
        if (_gatherStreamData && _sealPieceCount + 2 <= _sealPieces.Length)
        {
            var ring = sb.Locate(offset, length, out int index, out int first);
            _sealPieces[_sealPieceCount++] = new SealPiece { Offset = at, Length = first, Source = ring, SourceIndex = index };
            if (first < length) _sealPieces[_sealPieceCount++] = new SealPiece { Offset = at + first, Length = length - first, Source = ring, SourceIndex = 0 };
            return;
        }
        sb.CopyTo(offset, dest);
    }

    /// <summary>Drops the datagram's pieces (their ring references must not outlive the send pass).</summary>
    private void ClearSealPieces()
    {
        if (_sealPieceCount == 0) return;
        _sealPieces.AsSpan(0, _sealPieceCount).Clear();
        _sealPieceCount = 0;
    }

    private static void WriteCrypto(ref QuicWriter w, PacketSpace space, SentPacket rec)
    {
        var cs = space.CryptoSend;
        while (cs.HasPending)
        {
            int room = StreamFrame.MaxDataLength(w.Remaining, 1 + QuicVarint.GetEncodedLength(cs.NextChunkOffset));
            if (room <= 0) return;
            if (!cs.TryNextChunk(room, ulong.MaxValue, out ulong off, out int len, out _, out _) || len == 0) return;
            w.TryWriteByte((byte)FrameType.Crypto);
            w.TryWriteVarint(off);
            w.TryWriteVarint((ulong)len);
            cs.CopyTo(off, w.Buffer.Slice(w.Position, len));
            w.Advance(len);
            rec.AckEliciting = true;
            rec.Frames.Add(new SentFrame { Kind = SentFrameKind.Crypto, Offset = off, Length = len });
        }
    }

    private bool TryWriteClose(Span<byte> buffer, TimeSpan now, out int length)
    {
        length = 0;
        if (!_closeFramePending) return false;
        _closeFramePending = false;
        _closesSent++;
        int pos = 0;
        Span<PendingPacket> pending = _pendingScratch;
        int count = 0;
        int max = Math.Min(buffer.Length, _maxDatagram);
        long budget = AmplificationBudget;
        if (budget < max) max = (int)Math.Max(0, budget);
        var reason = System.Text.Encoding.UTF8.GetBytes(_closeReason.Length > 64 ? _closeReason[..64] : _closeReason);
        for (int si = 0; si < 3; si++)
        {
            var space = _spaces[si];
            if (space.Discarded || space.WriteKeys is null) continue;
            if (si == 2 && State != CoreState.Closing) continue;
            if (si == 2 && !_tls.IsHandshakeComplete && !IsHandshakeConfirmed) continue;
            if (si < 2 && IsHandshakeConfirmed) continue;
            int room = max - pos;
            if (room < 64) break;
            // App close in Initial/Handshake becomes a transport APPLICATION_ERROR (RFC 9000 §10.2.3)
            bool app = _closeIsApp && si == 2;
            ulong code = _closeIsApp && si < 2 ? (ulong)TransportErrorCode.ApplicationError : _closeCode;
            if (!WriteClosePacket(buffer.Slice(pos, room), pos, space, app, code, reason, ref pending[count], out int written)) continue;
            pending[count].Start = pos;
            pos += written;
            count++;
        }
        if (count == 0) return false;
        for (int i = 0; i < count; i++) Seal(buffer, ref pending[i], now);
        length = pos;
        if (!_addressValidated) _amplificationSent += pos;
        return true;
    }

    private bool WriteClosePacket(Span<byte> buf, int absStart, PacketSpace space, bool app, ulong code, byte[] reason, ref PendingPacket pp, out int written)
    {
        written = 0;
        ulong pn = space.NextPn;
        int pnLen = PacketNumber.EncodedLength(pn, space.LargestAcked);
        if (buf.Length < HeaderLength(space, pnLen) + 4 + PacketKeys.TagLength) return false;
        int payloadStart = WriteHeader(buf, space, pn, pnLen, out int lengthField, out int pnOffset);
        var w = new QuicWriter(buf[..(buf.Length - PacketKeys.TagLength)]);
        w.Advance(payloadStart);
        var f = new ConnectionCloseFrame { IsApplication = app, ErrorCode = code, Reason = reason };
        if (!f.TryWrite(ref w)) return false;
        if (w.Position - payloadStart < 4) PaddingFrame.TryWrite(ref w, 4);
        written = Complete(ref pp, space, absStart, pn, pnLen, pnOffset, lengthField, payloadStart, w.Position, RentSent());
        return true;
    }
}
