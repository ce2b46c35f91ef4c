using System.Text;

namespace OspBridge.Crypto;

/// <summary>
/// Extension blocks (RFC 5246 §7.4.1.4, RFC 8446 §4.2: <c>extension_type(16) | extension_data&lt;0..2^16-1&gt;</c>, kept as
/// raw (type, data) pairs in wire order) and the extension bodies the TLS 1.3 and DTLS 1.2 engines understand
/// (RFC 6066 §3, RFC 7301, uint16 lists).
/// </summary>
internal static class TlsExtensions
{
    /// <summary>Most extensions accepted in one block.</summary>
    public const int MaxCount = 128;

    /// <summary>Reads an optional <c>Extension extensions&lt;0..2^16-1&gt;</c> at the end of a (TLS 1.2) hello: absent = empty.</summary>
    public static List<(ushort Type, byte[] Data)> ReadOptionalBlock(ref TlsReader r) =>
        r.IsEmpty ? [] : ReadBlock(r.ReadVector16());

    /// <summary>Writes an extensions block with its 2-byte length.</summary>
    public static void WriteBlock(TlsWriter w, IReadOnlyList<(ushort Type, byte[] Data)> extensions)
    {
        int m = w.BeginVector(2);
        foreach (var (type, data) in extensions)
        {
            w.WriteU16(type);
            w.WriteVector16(data);
        }
        w.EndVector(m);
    }

    /// <summary>The data of the first extension of <paramref name="type"/>, or null.</summary>
    public static byte[]? Find(IReadOnlyList<(ushort Type, byte[] Data)> extensions, ushort type)
    {
        foreach (var (t, d) in extensions)
            if (t == type) return d;
        return null;
    }

    /// <summary>
    /// ec_point_formats (RFC 8422 §5.1.2): a <c>uint8 list&lt;1..255&gt;</c> that must contain uncompressed (0), the only
    /// format we use; otherwise illegal_parameter naming <paramref name="peer"/> ("client"/"server").
    /// </summary>
    public static void RequireUncompressedPointFormat(ReadOnlySpan<byte> data, string peer)
    {
        var r = new TlsReader(data);
        var formats = r.ReadVector8(1);
        r.EnsureEnd("ec_point_formats");
        if (formats.IndexOf((byte)0) < 0)
            throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: {peer} does not accept uncompressed points", TlsAlert.IllegalParameter);
    }

    /// <summary>A <c>uint16 list&lt;2..2^16-2&gt;</c> (supported_groups, signature_algorithms) as a new array.</summary>
    public static byte[] U16List(IEnumerable<ushort> values)
    {
        var w = new TlsWriter(64);
        WriteU16List(w, values, 2);
        return w.ToArray();
    }

    /// <summary>Iterates an extensions block: extension_type(2) extension_data&lt;0..2^16-1&gt;; duplicates are illegal_parameter.</summary>
    public static List<(ushort Type, byte[] Data)> ReadBlock(ReadOnlySpan<byte> block)
    {
        var list = new List<(ushort, byte[])>();
        var seen = new HashSet<ushort>();
        var r = new TlsReader(block);
        while (!r.IsEmpty)
        {
            ushort type = r.ReadU16();
            var data = r.ReadVector16();
            if (!seen.Add(type)) throw TlsAlert.Illegal($"duplicate extension {type}");
            if (list.Count >= MaxCount) throw TlsAlert.Decode("too many extensions");
            list.Add((type, data.ToArray()));
        }
        return list;
    }

    public static List<ushort> ReadU16List(ReadOnlySpan<byte> data, int lenBytes, int min)
    {
        var r = new TlsReader(data);
        var v = lenBytes == 1 ? r.ReadVector8(min, 254) : r.ReadVector16(min, 65534);
        r.EnsureEnd();
        if ((v.Length & 1) != 0) throw TlsAlert.Decode("odd length of a uint16 list");
        var list = new List<ushort>(v.Length / 2);
        for (int i = 0; i < v.Length; i += 2) list.Add((ushort)((v[i] << 8) | v[i + 1]));
        return list;
    }

    public static void WriteU16List(TlsWriter w, IEnumerable<ushort> values, int lenBytes)
    {
        int m = w.BeginVector(lenBytes);
        foreach (var v in values) w.WriteU16(v);
        w.EndVector(m);
    }

    /// <summary>Opens one extension: its type and a 2-byte length prefix (close it with <see cref="TlsWriter.EndVector"/>).</summary>
    public static int BeginExtension(TlsWriter w, ushort type)
    {
        w.WriteU16(type);
        return w.BeginVector(2);
    }

    /// <summary>An extension whose body is one uint16 list (supported_groups, signature_algorithms, supported_versions).</summary>
    public static void WriteU16ListExtension(TlsWriter w, ushort type, IEnumerable<ushort> values, int lenBytes)
    {
        int e = BeginExtension(w, type);
        WriteU16List(w, values, lenBytes);
        w.EndVector(e);
    }

    /// <summary>The server_name extension naming <paramref name="host"/> (see <see cref="WriteServerName"/>).</summary>
    public static void WriteServerNameExtension(TlsWriter w, string host)
    {
        int e = BeginExtension(w, TlsExtensionType.ServerName);
        WriteServerName(w, host);
        w.EndVector(e);
    }

    /// <summary>The ALPN extension offering or selecting <paramref name="protocols"/> (see <see cref="WriteAlpn"/>).</summary>
    public static void WriteAlpnExtension(TlsWriter w, IEnumerable<string> protocols)
    {
        int e = BeginExtension(w, TlsExtensionType.Alpn);
        WriteAlpn(w, protocols);
        w.EndVector(e);
    }

    /// <summary>The cookie extension (RFC 8446 §4.2.2: <c>opaque cookie&lt;1..2^16-1&gt;</c>).</summary>
    public static void WriteCookieExtension(TlsWriter w, ReadOnlySpan<byte> cookie)
    {
        int e = BeginExtension(w, TlsExtensionType.Cookie);
        w.WriteVector16(cookie);
        w.EndVector(e);
    }

    /// <summary>server_name: ServerNameList&lt;1..2^16-1&gt; of (name_type, HostName&lt;1..2^16-1&gt;); returns the host_name or null.</summary>
    public static string? ReadServerName(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return null; // server's empty acknowledgement
        var r = new TlsReader(data);
        var list = new TlsReader(r.ReadVector16(1));
        r.EnsureEnd();
        string? host = null;
        while (!list.IsEmpty)
        {
            byte type = list.ReadU8();
            var name = list.ReadVector16(1);
            if (type != 0) continue;
            if (host is not null) throw TlsAlert.Illegal("two host_name entries in server_name");
            foreach (byte b in name)
                if (b is < 0x21 or > 0x7E) throw TlsAlert.Illegal("server_name is not a printable ASCII host name");
            host = Encoding.ASCII.GetString(name);
        }
        return host;
    }

    public static void WriteServerName(TlsWriter w, string host)
    {
        int outer = w.BeginVector(2);
        w.WriteU8(0);
        w.WriteVector16(Encoding.ASCII.GetBytes(host));
        w.EndVector(outer);
    }

    /// <summary>ALPN: ProtocolNameList&lt;2..2^16-1&gt; of ProtocolName&lt;1..2^8-1&gt;.</summary>
    public static List<string> ReadAlpn(ReadOnlySpan<byte> data)
    {
        var r = new TlsReader(data);
        var list = new TlsReader(r.ReadVector16(2));
        r.EnsureEnd();
        var names = new List<string>();
        while (!list.IsEmpty)
        {
            var name = list.ReadVector8(1);
            names.Add(Encoding.Latin1.GetString(name));
        }
        return names;
    }

    public static void WriteAlpn(TlsWriter w, IEnumerable<string> protocols)
    {
        int outer = w.BeginVector(2);
        foreach (var p in protocols)
        {
            var b = Encoding.Latin1.GetBytes(p);
            if (b.Length is 0 or > 255) throw new CryptoException(CryptoError.InvalidState, "ALPN protocol name must be 1..255 bytes");
            w.WriteVector8(b);
        }
        w.EndVector(outer);
    }

    /// <summary>ClientHello key_share: KeyShareEntry client_shares&lt;0..2^16-1&gt;; entry = group(2) key_exchange&lt;1..2^16-1&gt;.</summary>
    public static List<(ushort Group, byte[] Key)> ReadClientShares(ReadOnlySpan<byte> data)
    {
        var r = new TlsReader(data);
        var list = new TlsReader(r.ReadVector16());
        r.EnsureEnd();
        var shares = new List<(ushort, byte[])>();
        while (!list.IsEmpty)
        {
            ushort g = list.ReadU16();
            var key = list.ReadVector16(1);
            foreach (var s in shares)
                if (s.Item1 == g) throw TlsAlert.Illegal("duplicate key_share group");
            shares.Add((g, key.ToArray()));
        }
        return shares;
    }
}
