using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.WebRtc.Stun;

/// <summary>
/// A parsed STUN message (RFC 8489 §5):
/// <code>
///  0                   1                   2                   3
/// |0 0|     STUN Message Type     |         Message Length        |
/// |                         Magic Cookie                          |
/// |                     Transaction ID (96 bits)                  |
/// then attributes: Type(16) Length(16) Value(padded to 4)
/// </code>
/// Message type bits: M11..M7 C1 M6..M4 C0 M3..M0. Attributes after MESSAGE-INTEGRITY other than
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored; nothing may follow FINGERPRINT.
/// </summary>
public sealed class StunMessage
{
    private readonly byte[] _raw;
    private readonly List<(ushort Type, int Offset, int Length)> _attributes;
    private readonly int _integrityOffset = -1, _integritySha256Offset = -1, _fingerprintOffset = -1;

    private StunMessage(byte[] raw, ushort method, StunClass cls, List<(ushort, int, int)> attributes, int mi, int mi256, int fp)
    {
        _raw = raw;
        Method = method;
        Class = cls;
        _attributes = attributes;
        _integrityOffset = mi;
        _integritySha256Offset = mi256;
        _fingerprintOffset = fp;
    }

    /// <summary>The method (0x001 = Binding).</summary>
    public ushort Method { get; }
    /// <summary>The class.</summary>
    public StunClass Class { get; }
    /// <summary>The 96-bit transaction id.</summary>
    public ReadOnlySpan<byte> TransactionId => _raw.AsSpan(8, 12);
    /// <summary>The message bytes as received.</summary>
    public ReadOnlySpan<byte> Raw => _raw;
    /// <summary>Attribute types in wire order (those that were not ignored).</summary>
    public IEnumerable<ushort> AttributeTypes => _attributes.Select(a => a.Type);
    /// <summary>True when a FINGERPRINT attribute was present (and valid: parsing checks it).</summary>
    public bool HasFingerprint => _fingerprintOffset >= 0;
    /// <summary>True when MESSAGE-INTEGRITY was present.</summary>
    public bool HasMessageIntegrity => _integrityOffset >= 0;
    /// <summary>True when MESSAGE-INTEGRITY-SHA256 was present.</summary>
    public bool HasMessageIntegritySha256 => _integritySha256Offset >= 0;

    /// <summary>True when <paramref name="data"/> looks like STUN: first byte 0..3 (RFC 7983), magic cookie, length fits.</summary>
    public static bool IsStun(ReadOnlySpan<byte> data) =>
        data.Length >= StunConstants.HeaderLength && data[0] < 4
        && BinaryPrimitives.ReadUInt32BigEndian(data[4..]) == StunConstants.MagicCookie
        && BinaryPrimitives.ReadUInt16BigEndian(data[2..]) + StunConstants.HeaderLength == data.Length;

    /// <summary>The value of the first attribute of <paramref name="type"/>, or empty with false.</summary>
    public bool TryGetAttribute(ushort type, out ReadOnlySpan<byte> value)
    {
        foreach (var a in _attributes)
            if (a.Type == type) { value = _raw.AsSpan(a.Offset, a.Length); return true; }
        value = default;
        return false;
    }

    /// <summary>USERNAME as UTF-8 text, or null.</summary>
    public string? Username
    {
        get
        {
            if (!TryGetAttribute(StunAttributeType.Username, out var v) || v.Length > 763) return null;
            try { return new UTF8Encoding(false, true).GetString(v); } catch (DecoderFallbackException) { return null; }
        }
    }

    /// <summary>PRIORITY, or null.</summary>
    public uint? Priority => TryGetAttribute(StunAttributeType.Priority, out var v) && v.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(v) : null;
    /// <summary>USE-CANDIDATE present.</summary>
    public bool UseCandidate => TryGetAttribute(StunAttributeType.UseCandidate, out _);
    /// <summary>ICE-CONTROLLING tie-breaker, or null.</summary>
    public ulong? IceControlling => TryGetAttribute(StunAttributeType.IceControlling, out var v) && v.Length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(v) : null;
    /// <summary>ICE-CONTROLLED tie-breaker, or null.</summary>
    public ulong? IceControlled => TryGetAttribute(StunAttributeType.IceControlled, out var v) && v.Length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(v) : null;

    /// <summary>XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS as a fallback), or null.</summary>
    public IPEndPoint? XorMappedAddress
    {
        get
        {
            if (TryGetAttribute(StunAttributeType.XorMappedAddress, out var v) && StunXorAddress.TryRead(v, TransactionId, true, out var ep)) return ep;
            if (TryGetAttribute(StunAttributeType.MappedAddress, out v) && StunXorAddress.TryRead(v, TransactionId, false, out ep)) return ep;
            return null;
        }
    }

    /// <summary>ERROR-CODE, or null.</summary>
    public StunErrorCode? ErrorCode => TryGetAttribute(StunAttributeType.ErrorCode, out var v) && StunErrorCode.TryRead(v, out var e) ? e : null;

    /// <summary>SOFTWARE text, or null.</summary>
    public string? Software => TryGetAttribute(StunAttributeType.Software, out var v) && v.Length <= 763 ? Encoding.UTF8.GetString(v) : null;

    /// <summary>Comprehension-required attribute types we do not understand (for a 420 response).</summary>
    public IReadOnlyList<ushort> UnknownRequiredAttributes() => UnknownRequiredAttributes(null);

    /// <summary>
    /// Comprehension-required attribute types that are neither ICE/STUN ones this class understands nor accepted by
    /// <paramref name="alsoKnown"/> (a usage such as TURN adds its own attributes); for a 420 response.
    /// </summary>
    public IReadOnlyList<ushort> UnknownRequiredAttributes(Func<ushort, bool>? alsoKnown) =>
        _attributes.Where(a => StunAttributeType.IsComprehensionRequired(a.Type) && !Known(a.Type) && alsoKnown?.Invoke(a.Type) != true)
            .Select(a => a.Type).Distinct().ToList();

    private static bool Known(ushort t) => t is StunAttributeType.MappedAddress or StunAttributeType.Username or StunAttributeType.MessageIntegrity
        or StunAttributeType.ErrorCode or StunAttributeType.UnknownAttributes or StunAttributeType.Realm or StunAttributeType.Nonce
        or StunAttributeType.MessageIntegritySha256 or StunAttributeType.XorMappedAddress or StunAttributeType.Priority or StunAttributeType.UseCandidate;

    /// <summary>Checks MESSAGE-INTEGRITY (HMAC-SHA1) with a short-term key (the ICE password as UTF-8). False when absent or wrong.</summary>
    public bool VerifyMessageIntegrity(ReadOnlySpan<byte> key)
    {
        if (_integrityOffset < 0) return false;
        Span<byte> mac = stackalloc byte[20];
        ComputeMac(_raw, _integrityOffset, 20, key, sha256: false, mac);
        return CryptographicOperations.FixedTimeEquals(mac, _raw.AsSpan(_integrityOffset + 4, 20));
    }

    /// <summary>Checks MESSAGE-INTEGRITY-SHA256 (possibly truncated to 16..32 bytes). False when absent or wrong.</summary>
    public bool VerifyMessageIntegritySha256(ReadOnlySpan<byte> key)
    {
        if (_integritySha256Offset < 0) return false;
        int len = BinaryPrimitives.ReadUInt16BigEndian(_raw.AsSpan(_integritySha256Offset + 2));
        Span<byte> mac = stackalloc byte[32];
        ComputeMac(_raw, _integritySha256Offset, len, key, sha256: true, mac);
        return CryptographicOperations.FixedTimeEquals(mac[..len], _raw.AsSpan(_integritySha256Offset + 4, len));
    }

    /// <summary>
    /// HMAC over the message up to the attribute at <paramref name="attrOffset"/>, with the header length field set as if
    /// the message ended right after that attribute (RFC 8489 §14.5/14.6).
    /// </summary>
    internal static void ComputeMac(ReadOnlySpan<byte> msg, int attrOffset, int valueLength, ReadOnlySpan<byte> key, bool sha256, Span<byte> mac)
    {
        int adjusted = attrOffset - StunConstants.HeaderLength + 4 + valueLength;
        Span<byte> header = stackalloc byte[StunConstants.HeaderLength];
        msg[..StunConstants.HeaderLength].CopyTo(header);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)adjusted);
        using var h = IncrementalHash.CreateHMAC(sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1, key);
        h.AppendData(header);
        h.AppendData(msg[StunConstants.HeaderLength..attrOffset]);
        h.GetHashAndReset(mac);
    }

    /// <summary>
    /// Parses a STUN message strictly; false (never an exception) on anything malformed: bad header, bad lengths,
    /// wrong FINGERPRINT, attributes after FINGERPRINT, more than <see cref="StunConstants.MaxAttributes"/> attributes.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out StunMessage? message)
    {
        message = null;
        if (data.Length > StunConstants.MaxMessageLength || !TryReadHeader(data, out ushort method, out var cls)) return false;

        var attrs = new List<(ushort, int, int)>();
        int mi = -1, mi256 = -1, fp = -1;
        int pos = StunConstants.HeaderLength;
        while (pos < data.Length)
        {
            if (fp >= 0) return false; // nothing after FINGERPRINT
            int attrStart = pos;
            if (!TryNextAttribute(data, ref pos, out ushort at, out int valueOffset, out int al)) return false;
            if (attrs.Count >= StunConstants.MaxAttributes) return false;
            if (at == StunAttributeType.Fingerprint)
            {
                if (al != 4) return false;
                fp = attrStart;
            }
            else if (at == StunAttributeType.MessageIntegritySha256)
            {
                if (mi256 >= 0 || al is < 16 or > 32 || (al & 3) != 0) return false;
                mi256 = attrStart;
            }
            else if (mi >= 0 || mi256 >= 0)
            {
                // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY (other than the two above) are ignored.
                continue;
            }
            else if (at == StunAttributeType.MessageIntegrity)
            {
                if (al != 20) return false;
                mi = attrStart;
            }
            attrs.Add((at, valueOffset, al));
        }
        if (fp >= 0)
        {
            uint expected = Crc32.Compute(data[..fp]) ^ StunConstants.FingerprintXor;
            if (BinaryPrimitives.ReadUInt32BigEndian(data[(fp + 4)..]) != expected) return false;
        }
        message = new StunMessage(data.ToArray(), method, cls, attrs, mi, mi256, fp);
        return true;
    }

    /// <summary>
    /// Checks the 20-byte header of <paramref name="data"/> without allocating (first two bits zero, magic cookie, a
    /// length that is a multiple of 4 and matches <paramref name="data"/>) and decodes method and class; false when it
    /// is not a well-formed STUN message header.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> data, out ushort method, out StunClass cls)
    {
        method = 0;
        cls = default;
        if (data.Length < StunConstants.HeaderLength || (data[0] & 0xC0) != 0) return false;
        if (BinaryPrimitives.ReadUInt32BigEndian(data[4..]) != StunConstants.MagicCookie) return false;
        int length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if ((length & 3) != 0 || length + StunConstants.HeaderLength != data.Length) return false;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(data);
        method = (ushort)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
        cls = (StunClass)(((type >> 4) & 1) | ((type >> 7) & 2));
        return true;
    }

    /// <summary>
    /// Walks attributes without allocating: reads the attribute at <paramref name="position"/> (start at
    /// <see cref="StunConstants.HeaderLength"/>) and advances past its padding. False when fewer than 4 bytes remain
    /// or the value does not fit (the message is then malformed).
    /// </summary>
    public static bool TryNextAttribute(ReadOnlySpan<byte> message, ref int position, out ushort type, out int valueOffset, out int valueLength)
    {
        type = 0;
        valueOffset = 0;
        valueLength = 0;
        if (position < 0 || message.Length - position < 4) return false;
        ushort t = BinaryPrimitives.ReadUInt16BigEndian(message[position..]);
        int len = BinaryPrimitives.ReadUInt16BigEndian(message[(position + 2)..]);
        int padded = (len + 3) & ~3;
        if (padded > message.Length - position - 4) return false;
        type = t;
        valueOffset = position + 4;
        valueLength = len;
        position = valueOffset + padded;
        return true;
    }

    /// <summary>The wire message type for a method and class.</summary>
    public static ushort EncodeType(ushort method, StunClass cls) =>
        (ushort)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | (((int)cls & 1) << 4) | (((int)cls & 2) << 7));
}
