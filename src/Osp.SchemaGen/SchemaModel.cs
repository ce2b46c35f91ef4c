using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace OspBridge.Osp.SchemaGen
{
    internal enum ValueKind
    {
        UInt,
        Int,
        Text,
        Bytes,
        Bool,
        Float64,
        Enum,
        Class,
        List,
        NullOr,
        BytesOrText,
    }

    /// <summary>A resolved C# value type of a member.</summary>
    internal sealed class ResolvedType
    {
        public ValueKind Kind;
        public string ClassName = "";   // Enum / Class
        public ResolvedType? Inner;        // List element / NullOr inner
        public int MinCount;            // List
        public int? SizeMin;            // Bytes
        public int? SizeMax;

        public bool IsValueType => Kind != ValueKind.Text && Kind != ValueKind.Class && Kind != ValueKind.List;

        public string CSharp
        {
            get
            {
                switch (Kind)
                {
                    case ValueKind.UInt: return "ulong";
                    case ValueKind.Int: return "long";
                    case ValueKind.Text: return "string";
                    case ValueKind.Bytes: return "global::System.ReadOnlyMemory<byte>";
                    case ValueKind.Bool: return "bool";
                    case ValueKind.Float64: return "double";
                    case ValueKind.Enum:
                    case ValueKind.Class: return "global::" + SchemaModel.Namespace + "." + ClassName;
                    case ValueKind.List: return "global::System.Collections.Generic.IReadOnlyList<" + Inner!.CSharp + ">";
                    case ValueKind.NullOr: return "global::" + SchemaModel.Namespace + ".NullOr<" + Inner!.CSharp + ">";
                    default: return "global::" + SchemaModel.Namespace + ".BytesOrText";
                }
            }
        }

        public string Describe()
        {
            switch (Kind)
            {
                case ValueKind.UInt: return "uint";
                case ValueKind.Int: return "int";
                case ValueKind.Text: return "text";
                case ValueKind.Bytes:
                    return SizeMin.HasValue
                        ? (SizeMin == SizeMax ? "bytes .size " + SizeMin : "bytes .size (" + SizeMin + ".." + SizeMax + ")")
                        : "bytes";
                case ValueKind.Bool: return "bool";
                case ValueKind.Float64: return "float64";
                case ValueKind.Enum:
                case ValueKind.Class: return ClassName;
                case ValueKind.List: return "[" + (MinCount > 0 ? MinCount + "*" : "*") + " " + Inner!.Describe() + "]";
                case ValueKind.NullOr: return Inner!.Describe() + " / null";
                default: return "bytes / text";
            }
        }
    }

    internal sealed class FieldModel
    {
        public long Key;               // map key, or array position
        public string SpecName = "";
        public string Name = "";       // C# property
        public bool Optional;
        public ResolvedType Type = new ResolvedType();
        public string Doc = "";
    }

    internal sealed class ClassModel
    {
        public string SpecName = "";
        public string Name = "";
        public bool IsArray;
        public long? TypeKey;
        public string Doc = "";
        public List<FieldModel> Fields = new List<FieldModel>();
    }

    internal sealed class EnumMember
    {
        public string SpecName = "";
        public string Name = "";
        public long Value;
        public string Doc = "";
    }

    internal sealed class EnumModel
    {
        public string SpecName = "";
        public string Name = "";
        public string Doc = "";
        public List<EnumMember> Members = new List<EnumMember>();
    }

    /// <summary>Resolves parsed rules into classes and enums; reports schema errors.</summary>
    internal sealed class SchemaModel
    {
        public const string Namespace = "OspBridge.Osp.Messages";

        private readonly Dictionary<string, CddlRule> _rules = new Dictionary<string, CddlRule>(StringComparer.Ordinal);
        private readonly List<CddlError> _errors;

        private SchemaModel(List<CddlError> errors) => _errors = errors;

        public List<ClassModel> Classes { get; } = new List<ClassModel>();

        public List<EnumModel> Enums { get; } = new List<EnumModel>();

        private readonly Dictionary<string, ClassModel> _classByName = new Dictionary<string, ClassModel>(StringComparer.Ordinal);
        private readonly Dictionary<string, EnumModel> _enumByName = new Dictionary<string, EnumModel>(StringComparer.Ordinal);

        public static SchemaModel Build(List<CddlRule> rules, List<CddlError> errors)
        {
            var model = new SchemaModel(errors);
            model.Load(rules);
            return model;
        }

        private void Load(List<CddlRule> rules)
        {
            foreach (CddlRule rule in rules)
            {
                if (rule.IsExtension)
                {
                    if (!_rules.TryGetValue(rule.Name, out CddlRule? target) || target.Kind != RuleKind.Enum || rule.Kind != RuleKind.Enum)
                    {
                        Error("'" + rule.Name + " /=' must extend an enumeration defined earlier.", rule.Line, 0);
                        continue;
                    }

                    target.Entries.AddRange(rule.Entries);
                    continue;
                }

                if (_rules.ContainsKey(rule.Name))
                {
                    Error("Rule '" + rule.Name + "' is defined twice.", rule.Line, 0);
                    continue;
                }

                _rules.Add(rule.Name, rule);
            }

            var typeKeys = new Dictionary<long, string>();
            foreach (CddlRule rule in rules)
            {
                if (rule.IsExtension || !_rules.TryGetValue(rule.Name, out CddlRule? r) || !ReferenceEquals(r, rule))
                {
                    continue;
                }

                if (rule.TypeKey.HasValue)
                {
                    if (rule.Kind != RuleKind.Map && rule.Kind != RuleKind.Array)
                    {
                        Error("Message '" + rule.Name + "' must be a map or an array.", rule.Line, 0);
                    }

                    if (rule.TypeKey.Value < 1 || rule.TypeKey.Value > (1L << 62) - 1)
                    {
                        Error("Type key of '" + rule.Name + "' is outside the QUIC varint range.", rule.Line, 0);
                    }

                    if (typeKeys.TryGetValue(rule.TypeKey.Value, out string? other))
                    {
                        Error("Type key " + rule.TypeKey + " is used by both '" + other + "' and '" + rule.Name + "'.", rule.Line, 0);
                    }
                    else
                    {
                        typeKeys.Add(rule.TypeKey.Value, rule.Name);
                    }
                }

                switch (rule.Kind)
                {
                    case RuleKind.Map:
                    case RuleKind.Array:
                        GetClass(rule.Name, rule.Line);
                        break;
                    case RuleKind.Enum:
                        GetEnum(rule.Name, rule.Line);
                        break;
                }
            }
        }

        private ClassModel? GetClass(string specName, int line)
        {
            if (_classByName.TryGetValue(specName, out ClassModel? existing))
            {
                return existing;
            }

            if (!_rules.TryGetValue(specName, out CddlRule? rule))
            {
                Error("Unknown rule '" + specName + "'.", line, 0);
                return null;
            }

            var model = new ClassModel
            {
                SpecName = specName,
                Name = Pascal(specName),
                IsArray = rule.Kind == RuleKind.Array,
                TypeKey = rule.TypeKey,
                Doc = rule.Doc,
            };
            _classByName.Add(specName, model);
            Classes.Add(model);
            FillFields(model, rule.Entries, new HashSet<string>(StringComparer.Ordinal));
            return model;
        }

        private void FillFields(ClassModel model, List<CddlEntry> entries, HashSet<string> includeStack)
        {
            int position = model.Fields.Count;
            foreach (CddlEntry entry in entries)
            {
                if (entry.GroupRef != null)
                {
                    if (model.IsArray)
                    {
                        Error("Group inclusion is not supported in arrays (" + model.SpecName + ").", entry.Line, entry.Column);
                        continue;
                    }

                    if (!_rules.TryGetValue(entry.GroupRef, out CddlRule? group) || group.Kind != RuleKind.Group)
                    {
                        Error("'" + entry.GroupRef + "' is not a group of members.", entry.Line, entry.Column);
                        continue;
                    }

                    if (!includeStack.Add(entry.GroupRef))
                    {
                        Error("Group '" + entry.GroupRef + "' includes itself.", entry.Line, entry.Column);
                        continue;
                    }

                    FillFields(model, group.Entries, includeStack);
                    includeStack.Remove(entry.GroupRef);
                    continue;
                }

                var field = new FieldModel { Optional = entry.Optional };
                if (model.IsArray)
                {
                    if (entry.Label == null || entry.Type == null)
                    {
                        Error("Array members must be 'name: type' (" + model.SpecName + ").", entry.Line, entry.Column);
                        continue;
                    }

                    field.Key = position++;
                    field.SpecName = entry.Label;
                    field.Doc = entry.Comment;
                }
                else
                {
                    if (entry.IntKey == null || entry.Type == null)
                    {
                        Error("Map members must be 'integer: type ; name' (" + model.SpecName + ").", entry.Line, entry.Column);
                        continue;
                    }

                    if (entry.IntKey.Value > 63)
                    {
                        Error("Map keys above 63 are not supported (" + model.SpecName + ").", entry.Line, entry.Column);
                        continue;
                    }

                    field.Key = entry.IntKey.Value;
                    string name = FirstWord(entry.Comment);
                    if (name.Length == 0)
                    {
                        Error("Map member " + entry.IntKey + " of '" + model.SpecName + "' needs its name as a trailing comment.", entry.Line, entry.Column);
                        continue;
                    }

                    field.SpecName = name;
                }

                field.Name = Pascal(field.SpecName);
                if (field.Name == model.Name)
                {
                    field.Name += "Value";
                }

                ResolvedType? type = Resolve(entry.Type, model.Name + Pascal(field.SpecName), 0);
                if (type == null)
                {
                    continue;
                }

                field.Type = type;
                if (model.Fields.Any(f => f.Key == field.Key))
                {
                    Error("Key " + field.Key + " appears twice in '" + model.SpecName + "'.", entry.Line, entry.Column);
                    continue;
                }

                if (model.Fields.Any(f => f.Name == field.Name))
                {
                    Error("Member name '" + field.SpecName + "' appears twice in '" + model.SpecName + "'.", entry.Line, entry.Column);
                    continue;
                }

                model.Fields.Add(field);
            }

            if (model.IsArray)
            {
                for (int i = 0; i < model.Fields.Count - 1; i++)
                {
                    if (model.Fields[i].Optional)
                    {
                        Error("Only the last member of array '" + model.SpecName + "' may be optional.", 0, 0);
                    }
                }
            }
        }

        private ResolvedType? Resolve(CddlType type, string inlineName, int aliasDepth)
        {
            if (aliasDepth > 16)
            {
                Error("Alias chain too long.", type.Line, type.Column);
                return null;
            }

            switch (type.Kind)
            {
                case TypeKind.Prim:
                    switch (type.Name)
                    {
                        case "uint": return new ResolvedType { Kind = ValueKind.UInt };
                        case "int": return new ResolvedType { Kind = ValueKind.Int };
                        case "text":
                        case "tstr": return new ResolvedType { Kind = ValueKind.Text };
                        case "bytes":
                        case "bstr": return new ResolvedType { Kind = ValueKind.Bytes, SizeMin = type.SizeMin, SizeMax = type.SizeMax };
                        case "bool": return new ResolvedType { Kind = ValueKind.Bool };
                        case "float64": return new ResolvedType { Kind = ValueKind.Float64 };
                        default:
                            Error("'null' is only supported as 'T / null'.", type.Line, type.Column);
                            return null;
                    }

                case TypeKind.EnumRef:
                case TypeKind.Named:
                {
                    if (!_rules.TryGetValue(type.Name, out CddlRule? rule))
                    {
                        Error("Unknown type '" + type.Name + "'.", type.Line, type.Column);
                        return null;
                    }

                    switch (rule.Kind)
                    {
                        case RuleKind.Alias:
                            return Resolve(rule.AliasType!, inlineName, aliasDepth + 1);
                        case RuleKind.Enum:
                            return GetEnum(rule.Name, type.Line) is EnumModel e ? new ResolvedType { Kind = ValueKind.Enum, ClassName = e.Name } : null;
                        case RuleKind.Map:
                        case RuleKind.Array:
                            if (type.Kind == TypeKind.EnumRef)
                            {
                                Error("'&" + type.Name + "' does not name an enumeration.", type.Line, type.Column);
                                return null;
                            }

                            return GetClass(rule.Name, type.Line) is ClassModel c ? new ResolvedType { Kind = ValueKind.Class, ClassName = c.Name } : null;
                        default:
                            Error("Group '" + type.Name + "' cannot be used as a type; write {" + type.Name + "} for a map.", type.Line, type.Column);
                            return null;
                    }
                }

                case TypeKind.InlineEnum:
                {
                    string name = inlineName;
                    if (_enumByName.ContainsKey(name))
                    {
                        Error("Inline enumeration name '" + name + "' collides.", type.Line, type.Column);
                        return null;
                    }

                    var model = new EnumModel { SpecName = name, Name = name };
                    AddMembers(model, type.Entries);
                    _enumByName.Add(name, model);
                    Enums.Add(model);
                    return new ResolvedType { Kind = ValueKind.Enum, ClassName = name };
                }

                case TypeKind.InlineMap:
                {
                    if (type.Entries.Count == 1 && type.Entries[0].GroupRef != null && !type.Entries[0].Optional)
                    {
                        // {group}: a map made of exactly the group's members; one class per group.
                        string groupName = type.Entries[0].GroupRef!;
                        if (!_classByName.TryGetValue(groupName, out ClassModel? existing))
                        {
                            if (!_rules.TryGetValue(groupName, out CddlRule? group) || group.Kind != RuleKind.Group)
                            {
                                Error("'" + groupName + "' is not a group.", type.Line, type.Column);
                                return null;
                            }

                            existing = new ClassModel { SpecName = groupName, Name = Pascal(groupName), Doc = group.Doc };
                            _classByName.Add(groupName, existing);
                            Classes.Add(existing);
                            FillFields(existing, group.Entries, new HashSet<string>(StringComparer.Ordinal) { groupName });
                        }

                        return new ResolvedType { Kind = ValueKind.Class, ClassName = existing.Name };
                    }

                    string name = inlineName;
                    if (_classByName.ContainsKey("#" + name))
                    {
                        Error("Inline map name '" + name + "' collides.", type.Line, type.Column);
                        return null;
                    }

                    var model = new ClassModel { SpecName = name, Name = name };
                    _classByName.Add("#" + name, model);
                    Classes.Add(model);
                    FillFields(model, type.Entries, new HashSet<string>(StringComparer.Ordinal));
                    return new ResolvedType { Kind = ValueKind.Class, ClassName = name };
                }

                case TypeKind.List:
                {
                    ResolvedType? element = Resolve(type.Element!, inlineName + "Item", aliasDepth);
                    if (element == null)
                    {
                        return null;
                    }

                    if (element.Kind == ValueKind.List || element.Kind == ValueKind.NullOr)
                    {
                        Error("Lists of lists or of nullable values are not supported.", type.Line, type.Column);
                        return null;
                    }

                    return new ResolvedType { Kind = ValueKind.List, Inner = element, MinCount = type.MinCount };
                }

                default:
                {
                    var choices = type.Choices;
                    if (choices.Count == 2 && choices[1].Kind == TypeKind.Prim && choices[1].Name == "null")
                    {
                        ResolvedType? inner = Resolve(choices[0], inlineName, aliasDepth);
                        if (inner == null)
                        {
                            return null;
                        }

                        if (inner.Kind == ValueKind.List || inner.Kind == ValueKind.NullOr || inner.Kind == ValueKind.BytesOrText)
                        {
                            Error("'T / null' supports scalar, enum and map types only.", type.Line, type.Column);
                            return null;
                        }

                        return new ResolvedType { Kind = ValueKind.NullOr, Inner = inner };
                    }

                    if (choices.Count == 2 && choices.All(c => c.Kind == TypeKind.Prim) &&
                        choices.Select(c => c.Name).OrderBy(n => n, StringComparer.Ordinal).SequenceEqual(new[] { "bytes", "text" }))
                    {
                        return new ResolvedType { Kind = ValueKind.BytesOrText };
                    }

                    Error("Only 'T / null' and 'bytes / text' type choices are supported.", type.Line, type.Column);
                    return null;
                }
            }
        }

        private EnumModel? GetEnum(string specName, int line)
        {
            if (_enumByName.TryGetValue(specName, out EnumModel? existing))
            {
                return existing;
            }

            if (!_rules.TryGetValue(specName, out CddlRule? rule) || rule.Kind != RuleKind.Enum)
            {
                Error("'" + specName + "' is not an enumeration.", line, 0);
                return null;
            }

            var model = new EnumModel { SpecName = specName, Name = Pascal(specName), Doc = rule.Doc };
            AddMembers(model, rule.Entries);
            _enumByName.Add(specName, model);
            Enums.Add(model);
            return model;
        }

        private void AddMembers(EnumModel model, List<CddlEntry> entries)
        {
            foreach (CddlEntry e in entries)
            {
                var member = new EnumMember { SpecName = e.Label!, Name = Pascal(e.Label!), Value = e.EnumValue!.Value, Doc = e.Comment };
                if (model.Members.Any(m => m.Name == member.Name || m.Value == member.Value))
                {
                    Error("Enumeration '" + model.SpecName + "' repeats a member name or value (" + e.Label + ").", e.Line, e.Column);
                    continue;
                }

                model.Members.Add(member);
            }
        }

        private static string FirstWord(string comment)
        {
            string trimmed = comment.Trim();
            int space = trimmed.IndexOfAny(new[] { ' ', '\t', '(' });
            return space < 0 ? trimmed : trimmed.Substring(0, space);
        }

        /// <summary>"psk-min-bits-of-entropy" → "PskMinBitsOfEntropy"; "playbackRate" → "PlaybackRate".</summary>
        public static string Pascal(string name)
        {
            var sb = new StringBuilder(name.Length);
            bool upper = true;
            foreach (char c in name)
            {
                if (c == '-' || c == '_' || c == '.')
                {
                    upper = true;
                    continue;
                }

                sb.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }

            if (sb.Length == 0 || char.IsDigit(sb[0]))
            {
                sb.Insert(0, '_');
            }

            return sb.ToString();
        }

        private void Error(string message, int line, int column) => _errors.Add(new CddlError(message, line, column));

        internal static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);
    }
}
