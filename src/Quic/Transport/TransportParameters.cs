using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Transport;

/// <summary>
/// QUIC transport parameters (RFC 9000 §18, RFC 9221 §3), carried in the TLS quic_transport_parameters extension.
/// Encoding: a sequence of <c>Transport Parameter ID (i) | Length (i) | Value (..)</c>; unknown IDs are ignored,
/// duplicates and out-of-range values are TRANSPORT_PARAMETER_ERROR.
/// </summary>
internal sealed class TransportParameters
{
    public byte[]? OriginalDestinationConnectionId;
    public ulong MaxIdleTimeoutMs;
    public byte[]? StatelessResetToken;
    public ulong MaxUdpPayloadSize = 65527;
    public ulong InitialMaxData;
    public ulong InitialMaxStreamDataBidiLocal;
    public ulong InitialMaxStreamDataBidiRemote;
    public ulong InitialMaxStreamDataUni;
    public ulong InitialMaxStreamsBidi;
    public ulong InitialMaxStreamsUni;
    public ulong AckDelayExponent = 3;
    public ulong MaxAckDelayMs = 25;
    public bool DisableActiveMigration;
    public ulong ActiveConnectionIdLimit = 2;
    public byte[]? InitialSourceConnectionId;
    public byte[]? RetrySourceConnectionId;
    /// <summary>0 = DATAGRAM not supported (parameter absent).</summary>
    public ulong MaxDatagramFrameSize;

    public byte[] Encode()
    {
        Span<byte> buf = stackalloc byte[512];
        var w = new QuicWriter(buf);
        Bytes(ref w, 0x00, OriginalDestinationConnectionId);
        if (MaxIdleTimeoutMs != 0) Int(ref w, 0x01, MaxIdleTimeoutMs);
        Bytes(ref w, 0x02, StatelessResetToken);
        if (MaxUdpPayloadSize != 65527) Int(ref w, 0x03, MaxUdpPayloadSize);
        Int(ref w, 0x04, InitialMaxData);
        Int(ref w, 0x05, InitialMaxStreamDataBidiLocal);
        Int(ref w, 0x06, InitialMaxStreamDataBidiRemote);
        Int(ref w, 0x07, InitialMaxStreamDataUni);
        Int(ref w, 0x08, InitialMaxStreamsBidi);
        Int(ref w, 0x09, InitialMaxStreamsUni);
        if (AckDelayExponent != 3) Int(ref w, 0x0a, AckDelayExponent);
        if (MaxAckDelayMs != 25) Int(ref w, 0x0b, MaxAckDelayMs);
        if (DisableActiveMigration) { w.TryWriteVarint(0x0c); w.TryWriteVarint(0); }
        if (ActiveConnectionIdLimit != 2) Int(ref w, 0x0e, ActiveConnectionIdLimit);
        Bytes(ref w, 0x0f, InitialSourceConnectionId);
        Bytes(ref w, 0x10, RetrySourceConnectionId);
        if (MaxDatagramFrameSize != 0) Int(ref w, 0x20, MaxDatagramFrameSize);
        return w.Written.ToArray();
    }

    private static void Int(ref QuicWriter w, ulong id, ulong value)
    {
        w.TryWriteVarint(id);
        w.TryWriteVarint((ulong)QuicVarint.GetEncodedLength(value));
        w.TryWriteVarint(value);
    }

    private static void Bytes(ref QuicWriter w, ulong id, byte[]? value)
    {
        if (value is null) return;
        w.TryWriteVarint(id);
        w.TryWriteVarint((ulong)value.Length);
        w.TryWriteBytes(value);
    }

    /// <summary>Decodes peer parameters; <paramref name="fromServer"/> enables the server-only parameters.</summary>
    public static TransportParameters Decode(ReadOnlySpan<byte> data, bool fromServer)
    {
        var p = new TransportParameters();
        var r = new QuicReader(data);
        ulong seen = 0;
        int count = 0;
        while (!r.End)
        {
            if (++count > 256) throw Error("too many transport parameters");
            if (!r.TryReadVarint(out ulong id) || !r.TryReadLengthPrefixed(ulong.MaxValue, out var value)) throw Error("truncated transport parameter");
            if (id <= 0x20)
            {
                ulong bit = 1UL << (int)id;
                if ((seen & bit) != 0) throw Error($"duplicate transport parameter 0x{id:x}");
                seen |= bit;
            }
            switch (id)
            {
                case 0x00: if (!fromServer) throw Error("client sent original_destination_connection_id"); p.OriginalDestinationConnectionId = Cid(value); break;
                case 0x01: p.MaxIdleTimeoutMs = ReadInt(value); break;
                case 0x02:
                    if (!fromServer || value.Length != 16) throw Error("bad stateless_reset_token");
                    p.StatelessResetToken = value.ToArray(); break;
                case 0x03: p.MaxUdpPayloadSize = ReadInt(value); if (p.MaxUdpPayloadSize < 1200) throw Error("max_udp_payload_size < 1200"); break;
                case 0x04: p.InitialMaxData = ReadInt(value); break;
                case 0x05: p.InitialMaxStreamDataBidiLocal = ReadInt(value); break;
                case 0x06: p.InitialMaxStreamDataBidiRemote = ReadInt(value); break;
                case 0x07: p.InitialMaxStreamDataUni = ReadInt(value); break;
                case 0x08: p.InitialMaxStreamsBidi = ReadInt(value); if (p.InitialMaxStreamsBidi > 1UL << 60) throw Error("initial_max_streams_bidi too large"); break;
                case 0x09: p.InitialMaxStreamsUni = ReadInt(value); if (p.InitialMaxStreamsUni > 1UL << 60) throw Error("initial_max_streams_uni too large"); break;
                case 0x0a: p.AckDelayExponent = ReadInt(value); if (p.AckDelayExponent > 20) throw Error("ack_delay_exponent > 20"); break;
                case 0x0b: p.MaxAckDelayMs = ReadInt(value); if (p.MaxAckDelayMs >= 1 << 14) throw Error("max_ack_delay too large"); break;
                case 0x0c: if (!value.IsEmpty) throw Error("disable_active_migration not empty"); p.DisableActiveMigration = true; break;
                case 0x0d: if (!fromServer) throw Error("client sent preferred_address"); break; // not used: we never migrate
                case 0x0e: p.ActiveConnectionIdLimit = ReadInt(value); if (p.ActiveConnectionIdLimit < 2) throw Error("active_connection_id_limit < 2"); break;
                case 0x0f: p.InitialSourceConnectionId = Cid(value); break;
                case 0x10: if (!fromServer) throw Error("client sent retry_source_connection_id"); p.RetrySourceConnectionId = Cid(value); break;
                case 0x20: p.MaxDatagramFrameSize = ReadInt(value); break;
                default: break; // unknown / GREASE: ignore
            }
        }
        return p;
    }

    private static byte[] Cid(ReadOnlySpan<byte> v) => v.Length <= 20 ? v.ToArray() : throw Error("connection ID too long");

    private static ulong ReadInt(ReadOnlySpan<byte> v)
    {
        if (!QuicVarint.TryRead(v, out ulong x, out int n) || n != v.Length) throw Error("bad integer transport parameter");
        return x;
    }

    private static QuicException Error(string message) => QuicException.Transport(TransportErrorCode.TransportParameterError, message);
}
