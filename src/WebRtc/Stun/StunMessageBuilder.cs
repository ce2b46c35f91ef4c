using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace OspBridge.WebRtc.Stun;

/// <summary>
/// Builds one STUN message into its own buffer: header, then attributes in call order, then optionally
/// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (in that order, as RFC 8489 requires).
/// Padding bytes are zero.
/// </summary>
public sealed class StunMessageBuilder
{
    private readonly byte[] _buffer = new byte[StunConstants.MaxMessageLength];
    private int _length;
    private bool _sealed;

    /// <summary>Starts a message of the given method and class with a transaction id (12 bytes).</summary>
    public StunMessageBuilder(ushort method, StunClass cls, ReadOnlySpan<byte> transactionId)
    {
        if (transactionId.Length != 12) throw new ArgumentException("transaction id must be 12 bytes", nameof(transactionId));
        BinaryPrimitives.WriteUInt16BigEndian(_buffer, StunMessage.EncodeType(method, cls));
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(4), StunConstants.MagicCookie);
        transactionId.CopyTo(_buffer.AsSpan(8));
        _length = StunConstants.HeaderLength;
    }

    /// <summary>A fresh random 96-bit transaction id.</summary>
    public static byte[] NewTransactionId() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(12);

    private Span<byte> Reserve(ushort type, int valueLength)
    {
        if (_sealed) throw new InvalidOperationException("FINGERPRINT already added");
        int padded = (valueLength + 3) & ~3;
        if (_length + 4 + padded > _buffer.Length) throw new WebRtcException(WebRtcError.LimitExceeded, "STUN message too large");
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_length), type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_length + 2), (ushort)valueLength);
        var value = _buffer.AsSpan(_length + 4, valueLength);
        _buffer.AsSpan(_length + 4 + valueLength, padded - valueLength).Clear();
        _length += 4 + padded;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(2), (ushort)(_length - StunConstants.HeaderLength));
        return value;
    }

    /// <summary>Adds an attribute with raw value bytes.</summary>
    public StunMessageBuilder AddAttribute(ushort type, ReadOnlySpan<byte> value)
    {
        value.CopyTo(Reserve(type, value.Length));
        return this;
    }

    /// <summary>USERNAME.</summary>
    public StunMessageBuilder AddUsername(string username)
    {
        int n = Encoding.UTF8.GetByteCount(username);
        if (n > 763) throw new WebRtcException(WebRtcError.LimitExceeded, "USERNAME longer than 763 bytes");
        Encoding.UTF8.GetBytes(username, Reserve(StunAttributeType.Username, n));
        return this;
    }

    /// <summary>SOFTWARE.</summary>
    public StunMessageBuilder AddSoftware(string software)
    {
        Encoding.UTF8.GetBytes(software, Reserve(StunAttributeType.Software, Encoding.UTF8.GetByteCount(software)));
        return this;
    }

    /// <summary>PRIORITY.</summary>
    public StunMessageBuilder AddPriority(uint priority)
    {
        BinaryPrimitives.WriteUInt32BigEndian(Reserve(StunAttributeType.Priority, 4), priority);
        return this;
    }

    /// <summary>USE-CANDIDATE (empty value).</summary>
    public StunMessageBuilder AddUseCandidate()
    {
        Reserve(StunAttributeType.UseCandidate, 0);
        return this;
    }

    /// <summary>ICE-CONTROLLING or ICE-CONTROLLED with the tie-breaker.</summary>
    public StunMessageBuilder AddIceRole(bool controlling, ulong tieBreaker)
    {
        BinaryPrimitives.WriteUInt64BigEndian(Reserve(controlling ? StunAttributeType.IceControlling : StunAttributeType.IceControlled, 8), tieBreaker);
        return this;
    }

    /// <summary>XOR-MAPPED-ADDRESS.</summary>
    public StunMessageBuilder AddXorMappedAddress(IPEndPoint endPoint)
    {
        var v = Reserve(StunAttributeType.XorMappedAddress, StunXorAddress.EncodedLength(endPoint));
        StunXorAddress.Write(v, endPoint, _buffer.AsSpan(8, 12), xor: true);
        return this;
    }

    /// <summary>ERROR-CODE.</summary>
    public StunMessageBuilder AddErrorCode(int code, string reason)
    {
        var e = new StunErrorCode(code, reason);
        e.Write(Reserve(StunAttributeType.ErrorCode, e.EncodedLength));
        return this;
    }

    /// <summary>UNKNOWN-ATTRIBUTES.</summary>
    public StunMessageBuilder AddUnknownAttributes(IReadOnlyList<ushort> types)
    {
        var v = Reserve(StunAttributeType.UnknownAttributes, types.Count * 2);
        for (int i = 0; i < types.Count; i++) BinaryPrimitives.WriteUInt16BigEndian(v[(i * 2)..], types[i]);
        return this;
    }

    /// <summary>MESSAGE-INTEGRITY (HMAC-SHA1 keyed with <paramref name="key"/>, for ICE the UTF-8 password).</summary>
    public StunMessageBuilder AddMessageIntegrity(ReadOnlySpan<byte> key)
    {
        int offset = _length;
        Reserve(StunAttributeType.MessageIntegrity, 20);
        StunMessage.ComputeMac(_buffer.AsSpan(0, _length), offset, 20, key, sha256: false, _buffer.AsSpan(offset + 4, 20));
        return this;
    }

    /// <summary>MESSAGE-INTEGRITY-SHA256 (full 32 bytes).</summary>
    public StunMessageBuilder AddMessageIntegritySha256(ReadOnlySpan<byte> key)
    {
        int offset = _length;
        Reserve(StunAttributeType.MessageIntegritySha256, 32);
        StunMessage.ComputeMac(_buffer.AsSpan(0, _length), offset, 32, key, sha256: true, _buffer.AsSpan(offset + 4, 32));
        return this;
    }

    /// <summary>FINGERPRINT; must be last.</summary>
    public StunMessageBuilder AddFingerprint()
    {
        int offset = _length;
        var v = Reserve(StunAttributeType.Fingerprint, 4);
        BinaryPrimitives.WriteUInt32BigEndian(v, Crc32.Compute(_buffer.AsSpan(0, offset)) ^ StunConstants.FingerprintXor);
        _sealed = true;
        return this;
    }

    /// <summary>The bytes written so far.</summary>
    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    /// <summary>A copy of the message.</summary>
    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();
}
