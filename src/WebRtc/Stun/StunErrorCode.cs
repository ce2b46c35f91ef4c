using System.Text;

namespace OspBridge.WebRtc.Stun;

/// <summary>
/// ERROR-CODE (RFC 8489 §14.8):
/// <code>
/// |           Reserved, should be 0         |Class|     Number    |
/// |      Reason Phrase (variable)                                ..
/// </code>
/// Code = Class * 100 + Number, class 3..6.
/// </summary>
/// <param name="Code">The error code, 300..699 (400 Bad Request, 401 Unauthorized, 420 Unknown Attribute, 487 Role Conflict).</param>
/// <param name="Reason">The reason phrase.</param>
public readonly record struct StunErrorCode(int Code, string Reason)
{
    /// <summary>400 Bad Request.</summary>
    public const int BadRequest = 400;
    /// <summary>401 Unauthorized.</summary>
    public const int Unauthorized = 401;
    /// <summary>420 Unknown Attribute.</summary>
    public const int UnknownAttribute = 420;
    /// <summary>487 Role Conflict (RFC 8445).</summary>
    public const int RoleConflict = 487;

    internal int EncodedLength => 4 + Encoding.UTF8.GetByteCount(Reason);

    internal void Write(Span<byte> dst)
    {
        dst[0] = 0;
        dst[1] = 0;
        dst[2] = (byte)(Code / 100);
        dst[3] = (byte)(Code % 100);
        Encoding.UTF8.GetBytes(Reason, dst[4..]);
    }

    internal static bool TryRead(ReadOnlySpan<byte> value, out StunErrorCode error)
    {
        error = default;
        if (value.Length < 4 || value.Length > 4 + 763) return false;
        int cls = value[2] & 0x7;
        int num = value[3];
        if (cls is < 3 or > 6 || num > 99) return false;
        string reason;
        try { reason = new UTF8Encoding(false, true).GetString(value[4..]); }
        catch (DecoderFallbackException) { return false; }
        error = new StunErrorCode(cls * 100 + num, reason);
        return true;
    }
}
