using System.Collections.Generic;

namespace OspBridge.Osp.SchemaGen
{
    /// <summary>A parse error with a 0-based line and column.</summary>
    internal sealed class CddlError
    {
        public CddlError(string message, int line, int column)
        {
            Message = message;
            Line = line;
            Column = column;
        }

        public string Message { get; }

        public int Line { get; }

        public int Column { get; }
    }

    internal enum RuleKind
    {
        Map,
        Array,
        Group,
        Enum,
        Alias,
    }

    /// <summary>One top-level rule: <c>name = ...</c> or <c>name /= ...</c>.</summary>
    internal sealed class CddlRule
    {
        public string Name = "";
        public bool IsExtension;
        public RuleKind Kind;
        public List<CddlEntry> Entries = new List<CddlEntry>();
        public CddlType? AliasType;
        public long? TypeKey;
        public string Doc = "";
        public int Line;
    }

    /// <summary>A group entry: a keyed member, a named array member, a group inclusion or an enum value.</summary>
    internal sealed class CddlEntry
    {
        public bool Optional;
        public long? IntKey;          // "0: type"
        public string? Label;         // "name: type" (array member or enum member)
        public string? GroupRef;      // bare "request"
        public CddlType? Type;
        public long? EnumValue;       // "name: 12" inside an enumeration
        public string Comment = "";   // trailing same-line comment (member name / doc)
        public int Line;
        public int Column;
    }

    internal enum TypeKind
    {
        Prim,       // uint int text bytes bool float64 null
        Named,      // reference to a rule
        EnumRef,    // &name
        InlineEnum, // &( ... )
        InlineMap,  // { ... }
        List,       // [* T] / [1* T]
        Choice,     // T1 / T2
    }

    internal sealed class CddlType
    {
        public TypeKind Kind;
        public string Name = "";      // primitive or rule name
        public int? SizeMin;          // bytes .size
        public int? SizeMax;
        public int MinCount;          // list
        public CddlType? Element;     // list
        public List<CddlType> Choices = new List<CddlType>();
        public List<CddlEntry> Entries = new List<CddlEntry>(); // inline enum / map
        public int Line;
        public int Column;
    }
}
